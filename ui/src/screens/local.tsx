// Local models: is Ollama there, what it has installed and loaded, pulling and removing models
// (with a progress bar), and how to get it running.
import { useEffect, useState } from "preact/hooks";
import { commands, events, type CommandError, type OllamaStatus, type PullProgress } from "../bindings";
import { ErrorNote } from "../components/error-note";

/** "412 MB of 1.3 GB" */
function bytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : `${Math.round(n / 1e6)} MB`;
}

export function Local() {
  const [status, setStatus] = useState<OllamaStatus | null>(null);
  const [busy, setBusy] = useState(false);
  const [name, setName] = useState("");
  const [pulling, setPulling] = useState<PullProgress | null>(null);
  const [confirmRemove, setConfirmRemove] = useState<string | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const refresh = async () => {
    setBusy(true);
    const r = await commands.ollamaRefresh();
    setBusy(false);
    if (r.status === "ok") setStatus(r.data);
  };
  useEffect(() => {
    commands.appEnvironment().then((e) => (e.ollama ? setStatus(e.ollama) : refresh()));
    const stops = [
      events.ollamaChanged.listen((e) => setStatus(e.payload.status)),
      events.ollamaPull.listen((e) => setPulling(e.payload.progress)),
    ];
    return () => stops.forEach((s) => s.then((u) => u()));
  }, []);

  const pull = async (e: Event) => {
    e.preventDefault();
    const model = name.trim();
    if (!model) return;
    setError(null);
    setDone(null);
    setPulling({ model, status: "starting", completed: null, total: null });
    const r = await commands.ollamaPull(model);
    setPulling(null);
    if (r.status === "ok") {
      setStatus(r.data);
      setDone(`${model} is installed: pick it as a local step of an agent.`);
      setName("");
    } else setError(r.error);
  };

  const percent = pulling?.total ? Math.floor(((pulling.completed ?? 0) / pulling.total) * 100) : null;
  return (
    <section class="card wide" id="local">
      <h2>Local models (Ollama)</h2>
      {!status && <p class="fine">Looking for Ollama…</p>}
      {status && status.running && (
        <>
          <p id="ollama-state">
            Ollama {status.version} is running at {status.url}.
          </p>
          <table class="prices" id="local-models">
            <thead>
              <tr>
                <th class="primary">Installed model</th>
                <th class="primary num">Size</th>
                <th class="primary">In memory</th>
                <th class="primary">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {status.models.map((m) => (
                <tr key={m.name} data-model={m.name}>
                  <td class="wrap">{m.name}</td>
                  <td class="num">{bytes(m.size)}</td>
                  <td class="wrap">{status.loaded.includes(m.name) ? "loaded" : "not loaded (loads on first use)"}</td>
                  <td class={confirmRemove === m.name ? "wrap" : ""}>
                    {confirmRemove === m.name ? (
                      <span class="confirm">
                        Remove {m.name} from this machine? Agents with it as a step will fail there until it is pulled again.{" "}
                        <button
                          class="danger confirm-remove"
                          onClick={async () => {
                            setConfirmRemove(null);
                            setError(null);
                            const r = await commands.ollamaRemove(m.name);
                            if (r.status === "ok") setStatus(r.data);
                            else setError(r.error);
                          }}
                        >
                          Remove
                        </button>{" "}
                        <button class="secondary" onClick={() => setConfirmRemove(null)}>
                          Keep
                        </button>
                      </span>
                    ) : (
                      <button class="secondary remove-model" onClick={() => setConfirmRemove(m.name)}>
                        Remove
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <form class="inline" id="pull-form" onSubmit={pull}>
            <input
              id="pull-model"
              placeholder="A model from ollama.com/library, e.g. llama3.2:1b"
              value={name}
              disabled={pulling !== null}
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
            />
            <button type="submit" id="pull-button" disabled={pulling !== null || !name.trim()}>
              {pulling ? "Pulling…" : "Pull"}
            </button>
          </form>
          {pulling && (
            <div class="pull-progress" id="pull-progress" role="status">
              <progress max={100} value={percent ?? undefined} />
              <span class="fine">
                {pulling.model}: {pulling.status}
                {pulling.total ? ` · ${bytes(pulling.completed ?? 0)} of ${bytes(pulling.total)} (${percent} %)` : ""}
              </span>
            </div>
          )}
          {done && (
            <p class="ok" role="status" id="pull-done">
              {done}
            </p>
          )}
          <ErrorNote error={error} />
          <p class="fine">
            Pick any of these as the last step of an agent's chain (key: your Ollama entry). Local steps cost nothing and
            nothing leaves this machine.
          </p>
        </>
      )}
      {status && !status.running && (
        <p class="warning" id="ollama-state">
          {status.problem}
        </p>
      )}
      <button class="secondary" id="ollama-refresh" disabled={busy} onClick={refresh}>
        {busy ? "Checking…" : "Check again"}
      </button>
    </section>
  );
}
