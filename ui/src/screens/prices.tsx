// Prices: what Keyhold charges each token class at, and the user's own overrides.
import { useEffect, useState } from "preact/hooks";
import { commands, events, type CommandError, type PriceEntry } from "../bindings";
import { ErrorNote } from "../components/error-note";


export function Prices() {
  const [list, setList] = useState<PriceEntry[]>([]);
  const [error, setError] = useState<CommandError | null>(null);
  const [form, setForm] = useState({ model: "", input: "", output: "", cacheRead: "", cacheWrite: "" });
  const reload = async () => {
    const r = await commands.pricesList();
    if (r.status === "ok") setList(r.data);
    else setError(r.error);
  };
  useEffect(() => {
    reload();
    const stop = events.configurationChanged.listen(() => reload());
    return () => {
      stop.then((u) => u());
    };
  }, []);
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const r = await commands.pricesSet(form.model, form.input, form.output, form.cacheRead || null, form.cacheWrite || null);
    if (r.status === "error") setError(r.error);
    else setForm({ model: "", input: "", output: "", cacheRead: "", cacheWrite: "" });
    await reload();
  };
  return (
    <section class="card wide" id="prices">
      <h2>Prices</h2>
      <p class="fine">USD per million tokens. Your provider's invoice is the authority; override a price when yours differs.</p>
      <form class="row" onSubmit={submit} id="price-form">
        <input placeholder="model" value={form.model} onInput={set("model")} />
        <input placeholder="input" value={form.input} onInput={set("input")} />
        <input placeholder="output" value={form.output} onInput={set("output")} />
        <input placeholder="cache read (empty: as input)" value={form.cacheRead} onInput={set("cacheRead")} />
        <input placeholder="cache write (empty: as input)" value={form.cacheWrite} onInput={set("cacheWrite")} />
        <button type="submit">Set</button>
      </form>
      <ErrorNote error={error} />
      <table class="prices">
        <thead>
          <tr>
            <th>Model</th>
            <th>Provider</th>
            <th>Input</th>
            <th>Output</th>
            <th>Cache read</th>
            <th>Cache write</th>
            <th>Source</th>
            <th>
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {list.map((p) => (
            <tr key={`${p.source}-${p.provider}-${p.model}`}>
              <td>{p.model}</td>
              <td>{p.provider ?? "any"}</td>
              <td>{p.price.input}</td>
              <td>{p.price.output}</td>
              <td>{p.price.cache_read}</td>
              <td>{p.price.cache_write}</td>
              <td>{p.source}</td>
              <td>
                {p.source === "override" && (
                  <button
                    class="secondary remove-price"
                    title={`Remove your price for ${p.model}: the price file's applies again`}
                    onClick={async () => {
                      setError(null);
                      const r = await commands.pricesRemove(p.model);
                      if (r.status === "error") setError(r.error);
                      await reload();
                    }}
                  >
                    Remove
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
