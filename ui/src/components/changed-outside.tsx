import { useState } from "preact/hooks";
import { commands, type CommandError, type WorkspaceInfo } from "../bindings";
import { ErrorNote } from "./error-note";

/** What was changed in Keyhold's files by something other than Keyhold, and the user's
 * acknowledgment (with the passphrase, as `keyhold vault check --accept` asks it). */
export function ChangedOutside({ info, onAccepted }: { info: WorkspaceInfo; onAccepted: (i: WorkspaceInfo) => void }) {
  const [asking, setAsking] = useState(false);
  const [passphrase, setPassphrase] = useState("");
  const [error, setError] = useState<CommandError | null>(null);
  const [busy, setBusy] = useState(false);
  const ledger = info.changed_outside.some((c) => c.includes("usage ledger"));
  const accept = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const result = await commands.acceptChanges(passphrase);
    setBusy(false);
    setPassphrase("");
    if (result.status === "ok") {
      setAsking(false);
      setError(null);
      onAccepted(result.data);
    } else {
      setError(result.error);
    }
  };
  return (
    <div class="notice danger" id="changed-outside" role="alert" data-never-signed={info.never_signed ? "true" : undefined}>
      {info.never_signed ? (
        <p>
          <strong>A database this vault never signed.</strong> Keyhold found keys, agents or tokens it did not write under
          this vault: an older version's database, a copy, or rows put there by something else. Nothing in it is used, no
          request is sent and no proxy token works, until you look it over and adopt it. Adopt it only if you recognize
          every item below; otherwise quit and move the database away.
        </p>
      ) : (
        <p>
          <strong>Changed outside Keyhold.</strong> These were edited in Keyhold's files by something other than Keyhold.
          Nothing is sent for them, and while a record was put back, brought back or deleted nothing is sent at all:
          re-save or remove it here.
          {ledger &&
            " While the usage ledger stands changed, agents with a daily budget run on their local steps only: their spend cannot be trusted."}{" "}
          If you made the change yourself, acknowledge it.
        </p>
      )}
      <ul>
        {/* Never signed: the first line is the core's own statement of it, said above in full. */}
        {(info.never_signed ? info.changed_outside.slice(1) : info.changed_outside).map((c) => (
          <li key={c}>{c}</li>
        ))}
      </ul>
      {asking ? (
        <form id="accept-changes-form" onSubmit={accept}>
          <label>
            Vault passphrase
            <input
              id="accept-changes-passphrase"
              type="password"
              autocomplete="current-password"
              value={passphrase}
              onInput={(e) => setPassphrase(e.currentTarget.value)}
            />
          </label>
          <button id="accept-changes-confirm" type="submit" disabled={busy || passphrase.length === 0}>
            {info.never_signed ? "Adopt this database" : "Take the files as they are now"}
          </button>
          <button type="button" class="secondary" onClick={() => setAsking(false)}>
            Cancel
          </button>
          {error && <ErrorNote error={error} />}
        </form>
      ) : (
        <button id="accept-changes" class="secondary" onClick={() => setAsking(true)}>
          {info.never_signed ? "I recognize all of it…" : "I made these changes…"}
        </button>
      )}
    </div>
  );
}
