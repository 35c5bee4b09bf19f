import { useState } from "preact/hooks";
import { commands, type CommandError, type WorkspaceInfo } from "../bindings";
import { ErrorNote } from "../components/error-note";
import { StrengthMeter } from "../components/strength-meter";

export function FirstRun({ dataDir, onCreated }: { dataDir: string; onCreated: (i: WorkspaceInfo) => void }) {
  const [passphrase, setPassphrase] = useState("");
  const [confirm, setConfirm] = useState("");
  const [error, setError] = useState<CommandError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const result = await commands.createVault(passphrase, confirm);
    setBusy(false);
    if (result.status === "ok") onCreated(result.data);
    else setError(result.error);
  };

  return (
    <main class="center">
      <form class="card" onSubmit={submit} id="first-run">
        <h1>Welcome to Keyhold</h1>
        <p>
          Choose a passphrase for your vault. It encrypts your provider keys on this machine. There is no
          recovery: if you forget it, the keys cannot be read back.
        </p>
        <label>
          Passphrase
          <input
            id="new-passphrase"
            type="password"
            autocomplete="new-password"
            value={passphrase}
            onInput={(e) => setPassphrase((e.target as HTMLInputElement).value)}
            autofocus
          />
        </label>
        <StrengthMeter passphrase={passphrase} />
        <label>
          Type it again
          <input
            id="confirm-passphrase"
            type="password"
            autocomplete="new-password"
            value={confirm}
            onInput={(e) => setConfirm((e.target as HTMLInputElement).value)}
          />
        </label>
        <ErrorNote error={error} />
        <button id="create-vault" type="submit" disabled={busy}>
          {busy ? "Creating the vault…" : "Create vault"}
        </button>
        <p class="fine">Data folder: {dataDir}</p>
      </form>
    </main>
  );
}
