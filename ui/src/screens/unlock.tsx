import { useRef, useState } from "preact/hooks";
import { commands, type CommandError, type WorkspaceInfo } from "../bindings";
import { ErrorNote } from "../components/error-note";

export function Unlock({ onUnlocked }: { onUnlocked: (i: WorkspaceInfo) => void }) {
  const [passphrase, setPassphrase] = useState("");
  const [error, setError] = useState<CommandError | null>(null);
  const [busy, setBusy] = useState(false);
  const field = useRef<HTMLInputElement>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const result = await commands.unlock(passphrase);
    setBusy(false);
    if (result.status === "ok") {
      setPassphrase("");
      onUnlocked(result.data);
    } else {
      setError(result.error);
      // A wrong passphrase: the field is emptied and ready for the next try.
      if (result.error.kind === "wrong_passphrase") setPassphrase("");
      setTimeout(() => field.current?.focus(), 0);
    }
  };

  return (
    <main class="center">
      <form class="card" onSubmit={submit} id="unlock">
        <h1>Keyhold is locked</h1>
        <label>
          Passphrase
          <input
            id="unlock-passphrase"
            ref={field}
            type="password"
            autocomplete="current-password"
            value={passphrase}
            onInput={(e) => setPassphrase((e.target as HTMLInputElement).value)}
            autofocus
          />
        </label>
        <ErrorNote error={error} />
        <button id="unlock-button" type="submit" disabled={busy || passphrase.length === 0}>
          {busy ? "Unlocking…" : "Unlock"}
        </button>
      </form>
    </main>
  );
}
