// Prices: what Keyhold charges each token class at, and the user's own overrides.
import { useEffect, useState } from "preact/hooks";
import { commands, events, type CommandError, type PriceEntry } from "../bindings";
import { ErrorNote } from "../components/error-note";
import { ColumnsToggle } from "./usage";

const EMPTY = { model: "", input: "", output: "", cacheRead: "", cacheWrite: "" };

/** A rate as the table shows it (USD per million tokens, exact). */
const rate = (v: string) => `$${v}`;

/** An override's cache rate: the user's own, the price file's, or none (cached tokens cost as input). */
function cacheCell(p: PriceEntry, which: "read" | "write") {
  const own = which === "read" ? p.cache_read_own : p.cache_write_own;
  const fromFile = which === "read" ? p.cache_read_from_file : p.cache_write_from_file;
  const value = which === "read" ? p.price.cache_read : p.price.cache_write;
  if (p.source !== "override" || own) return <>{rate(value)}</>;
  if (fromFile)
    return (
      <span title="No cache price of your own: the price file's applies">
        {rate(value)} <span class="fine">from the file</span>
      </span>
    );
  return <span title="No cache price: cached tokens cost as input">as input</span>;
}

export function Prices() {
  const [list, setList] = useState<PriceEntry[]>([]);
  const [error, setError] = useState<CommandError | null>(null);
  const [form, setForm] = useState(EMPTY);
  const [saved, setSaved] = useState<string | null>(null);
  const [allColumns, setAllColumns] = useState(false);
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
    setSaved(null);
    const r = await commands.pricesSet(form.model, form.input, form.output, form.cacheRead || null, form.cacheWrite || null);
    if (r.status === "error") setError(r.error);
    else {
      setSaved(`Your price for ${form.model.trim()} applies from the next request.`);
      setForm(EMPTY);
    }
    await reload();
  };
  const edit = (p: PriceEntry) => {
    setForm({
      model: p.model,
      input: p.price.input,
      output: p.price.output,
      cacheRead: p.source === "override" && !p.cache_read_own ? "" : p.price.cache_read,
      cacheWrite: p.source === "override" && !p.cache_write_own ? "" : p.price.cache_write,
    });
    document.getElementById("price-model")?.focus();
  };
  const models = Array.from(new Set(list.map((p) => p.model))).sort();
  const field = (id: string, label: string, k: keyof typeof form, hint?: string) => (
    <label>
      {label}
      <input id={id} value={form[k]} onInput={set(k)} inputMode={k === "model" ? undefined : "decimal"} list={k === "model" ? "price-models" : undefined} />
      {hint && <span class="fine">{hint}</span>}
    </label>
  );
  return (
    <section class="card wide" id="prices">
      <h2>Prices</h2>
      <p class="fine">
        All prices are in USD per million tokens. Your provider's invoice is the authority; set your own price for a model
        when yours differs (a negotiated rate, a new model). It applies to that model on every provider.
      </p>
      <form class="price-form" onSubmit={submit} id="price-form">
        {field("price-model", "Model", "model")}
        {field("price-input", "Input", "input")}
        {field("price-output", "Output", "output")}
        {field("price-cache-read", "Cache read", "cacheRead", "Empty: the price file's, or none")}
        {field("price-cache-write", "Cache write", "cacheWrite", "Empty: the price file's, or none")}
        <datalist id="price-models">
          {models.map((m) => (
            <option key={m} value={m} />
          ))}
        </datalist>
        <button type="submit" id="price-save">
          Set my price
        </button>
      </form>
      <ErrorNote error={error} />
      {saved && (
        <p class="ok" role="status" id="price-saved">
          {saved}
        </p>
      )}
      <div class="table-head">
        <h3>Known prices</h3>
        <ColumnsToggle id="prices-columns" all={allColumns} set={setAllColumns} />
      </div>
      <table class={`prices fit${allColumns ? " all" : ""}`} id="prices-table">
        <thead>
          <tr>
            <th class="primary">Model</th>
            <th class="more">Provider</th>
            <th class="primary num">Input</th>
            <th class="primary num">Output</th>
            <th class="more num">Cache read</th>
            <th class="more num">Cache write</th>
            <th class="primary">Applies</th>
            <th class="primary">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {list.map((p) => (
            <tr key={`${p.source}-${p.provider}-${p.model}`} data-model={p.model} data-source={p.source} class={p.applies ? "" : "shadowed"}>
              <td class="wrap">{p.model}</td>
              <td class="more">{p.provider ?? "any"}</td>
              <td class="num">{rate(p.price.input)}</td>
              <td class="num">{rate(p.price.output)}</td>
              <td class="more num">{cacheCell(p, "read")}</td>
              <td class="more num">{cacheCell(p, "write")}</td>
              <td class="applies wrap" title={p.source}>
                {p.source === "override" ? "your price" : p.applies ? `price file (${p.source.replace(/^file /, "")})` : "no: your price applies"}
              </td>
              <td class="actions">
                {p.source === "override" ? (
                  <button
                    class="secondary small remove-price"
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
                ) : (
                  p.applies && (
                    <button class="secondary small edit-price" title={`Set your own price for ${p.model}, starting from this one`} onClick={() => edit(p)}>
                      Override
                    </button>
                  )
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
