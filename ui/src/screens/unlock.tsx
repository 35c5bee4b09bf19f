import { useEffect, useRef, useState } from "preact/hooks";
import { commands, type CommandError, type WorkspaceInfo } from "../bindings";
import { ErrorNote } from "../components/error-note";

/** Why the window shows the lock screen, set by whoever locked it (read once). */
export const LOCK_REASON = "keyhold.lock.reason";

export function Unlock({ onUnlocked }: { onUnlocked: (i: WorkspaceInfo) => void }) {
  const [reason] = useState(() => {
    const r = sessionStorage.getItem(LOCK_REASON);
    sessionStorage.removeItem(LOCK_REASON);
    return r ?? "Keyhold starts locked: your keys stay sealed until you type the passphrase.";
  });
  const [shown, setShown] = useState(false);
  const [passphrase, setPassphrase] = useState("");
  const [error, setError] = useState<CommandError | null>(null);
  const [busy, setBusy] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  // Ready for typing whenever the lock screen shows (after Lock, auto-lock, or the tray), and
  // again when the window comes back to the front.
  useEffect(() => {
    field.current?.focus();
    const back = () => field.current?.focus();
    window.addEventListener("focus", back);
    return () => window.removeEventListener("focus", back);
  }, []);

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
        <p class="fine" id="lock-reason">
          {reason}
        </p>
        <label>
          Passphrase
          <span class="with-reveal">
          <input
            id="unlock-passphrase"
            ref={field}
            type={shown ? "text" : "password"}
            autocomplete="current-password"
            value={passphrase}
            onInput={(e) => setPassphrase((e.target as HTMLInputElement).value)}
            autofocus
          />
            <button
              type="button"
              class="secondary reveal"
              id="unlock-reveal"
              aria-pressed={shown}
              onClick={() => {
                setShown(!shown);
                field.current?.focus();
              }}
            >
              {shown ? "Hide" : "Show"}
            </button>
          </span>
        </label>
        <ErrorNote error={error} />
        <button id="unlock-button" type="submit" disabled={busy || passphrase.length === 0}>
          {busy ? "Unlocking…" : "Unlock"}
        </button>
      </form>
    </main>
  );
}
