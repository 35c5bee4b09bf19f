// Local models: is Ollama there, what it has installed and loaded, and how to get it running.
import { useEffect, useState } from "preact/hooks";
import { commands, events, type OllamaStatus } from "../bindings";

export function Local() {
  const [status, setStatus] = useState<OllamaStatus | null>(null);
  const [busy, setBusy] = useState(false);
  const refresh = async () => {
    setBusy(true);
    const r = await commands.ollamaRefresh();
    setBusy(false);
    if (r.status === "ok") setStatus(r.data);
  };
  useEffect(() => {
    commands.appEnvironment().then((e) => (e.ollama ? setStatus(e.ollama) : refresh()));
    const stop = events.ollamaChanged.listen((e) => setStatus(e.payload.status));
    return () => {
      stop.then((u) => u());
    };
  }, []);
  return (
    <section class="card wide" id="local">
      <h2>Local models (Ollama)</h2>
      {!status && <p class="fine">Looking for Ollama…</p>}
      {status && status.running && (
        <>
          <p id="ollama-state">
            Ollama {status.version} is running at {status.url}.
          </p>
          <table class="prices">
            <thead>
              <tr>
                <th>Installed model</th>
                <th>Size</th>
                <th>Loaded</th>
              </tr>
            </thead>
            <tbody>
              {status.models.map((m) => (
                <tr key={m.name}>
                  <td>{m.name}</td>
                  <td>{(m.size / 1e9).toFixed(1)} GB</td>
                  <td>{status.loaded.includes(m.name) ? "yes" : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
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
