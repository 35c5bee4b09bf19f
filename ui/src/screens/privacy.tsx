// Privacy: what each policy hides from cloud models, and the user's dictionary of names and
// terms. Terms are sealed in the vault and never shown again in full: the list shows hints.
import { useEffect, useState } from "preact/hooks";
import { commands, type CommandError, type PayloadInfo, type TermInfo } from "../bindings";
import { ErrorNote } from "../components/error-note";

export function Privacy() {
  const [terms, setTerms] = useState<TermInfo[]>([]);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<CommandError | null>(null);
  useEffect(() => {
    commands.dictionaryList().then((r) => (r.status === "ok" ? setTerms(r.data) : setError(r.error)));
  }, []);
  const add = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const r = await commands.dictionaryAdd(draft.split("\n"));
    if (r.status === "ok") {
      setTerms(r.data);
      setDraft("");
    } else setError(r.error);
  };
  const remove = async (id: string) => {
    setError(null);
    const r = await commands.dictionaryRemove(id);
    if (r.status === "ok") setTerms(r.data);
    else setError(r.error);
  };
  return (
    <section class="card wide" id="privacy">
      <h2>Privacy</h2>
      <p class="fine">
        Before any cloud step, Keyhold replaces what an agent's policy hides with placeholders such as [EMAIL_1], on this
        machine, and puts your values back in the answer. Local models get the original text. Each agent has its own
        policy (Agents → Edit): hide secrets (the default), hide secrets and personal data, refuse to send either, or off.
        The Usage page shows, for every request, what was replaced.
      </p>
      <h3>Your dictionary</h3>
      <p class="fine">
        Names and terms to hide with the personal-data and refuse policies: clients, project code names, people. Sealed in
        your vault like your keys; shown here only as hints.
      </p>
      <form onSubmit={add} id="dictionary-form">
        <textarea
          id="dictionary-input"
          rows={3}
          placeholder={"One term per line, e.g.\nProject Nightingale\nAcme Holdings"}
          value={draft}
          onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
        />
        <button type="submit" id="dictionary-add" disabled={!draft.trim()}>
          Add terms
        </button>
      </form>
      <ErrorNote error={error} />
      {terms.length === 0 ? (
        <p class="fine" id="dictionary-empty">
          No terms yet.
        </p>
      ) : (
        <ul class="tokens" id="dictionary-list">
          {terms.map((t) => (
            <li key={t.id} data-term={t.id}>
              <code>{t.hint}</code>{" "}
              <button class="secondary" title="Remove this term" onClick={() => remove(t.id)}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <OutboundLog />
    </section>
  );
}

/** The optional log of what left the machine: off by default, sealed, kept N days. */
function OutboundLog() {
  const [days, setDays] = useState<number | null>(null);
  const [entries, setEntries] = useState<PayloadInfo[]>([]);
  const [open, setOpen] = useState<{ id: string; body: string } | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  const reload = async () => {
    const d = await commands.payloadLogDays();
    if (d.status === "ok") setDays(d.data);
    else setError(d.error);
    const l = await commands.payloadLogList();
    if (l.status === "ok") setEntries(l.data);
  };
  useEffect(() => {
    reload();
  }, []);
  const choose = async (value: number) => {
    setError(null);
    const r = await commands.payloadLogSetDays(value);
    if (r.status === "error") setError(r.error);
    await reload();
  };
  const show = async (id: string) => {
    const r = await commands.payloadLogOpen(id);
    if (r.status === "ok") setOpen({ id, body: JSON.stringify(JSON.parse(r.data), null, 2) });
    else setError(r.error);
  };
  return (
    <>
      <h3>What left this machine</h3>
      <p class="fine">
        Keep the exact request each cloud provider received, after replacements, to check it later. Off by default; kept
        sealed in your vault's key, and removed after the days you choose.
      </p>
      <label>
        Keep for
        <select id="payload-log-days" value={String(days ?? 0)} onChange={(e) => choose(Number((e.target as HTMLSelectElement).value))}>
          <option value="0">Off</option>
          <option value="1">1 day</option>
          <option value="7">7 days</option>
          <option value="30">30 days</option>
          <option value="90">90 days</option>
        </select>
      </label>
      <ErrorNote error={error} />
      {entries.length > 0 && (
        <ul class="tokens" id="payload-log">
          {entries.map((e) => (
            <li key={e.id}>
              {new Date(e.at).toLocaleString()} · {e.agent} → {e.provider} {e.model} · {e.bytes} bytes{" "}
              <button class="secondary" onClick={() => show(e.id)}>
                Show
              </button>
              {open?.id === e.id && <pre class="payload">{open.body}</pre>}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
