// Privacy: what each policy hides from cloud models, and the user's dictionary of names and
// terms. Terms are sealed in the vault and never shown again in full: the list shows hints.
import { useEffect, useState } from "preact/hooks";
import { commands, type CommandError, type PayloadInfo, type PhoneRegion, type TermInfo } from "../bindings";
import { ErrorNote } from "../components/error-note";

export function Privacy() {
  const [terms, setTerms] = useState<TermInfo[]>([]);
  const [draft, setDraft] = useState("");
  // The term whose removal waits for a second click: a removed term reaches cloud models again.
  const [confirming, setConfirming] = useState<string | null>(null);
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
    setConfirming(null);
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
              {confirming === t.id ? (
                <span class="confirm-inline" role="alertdialog" aria-label="Remove this term?">
                  Remove it? Agents that hide personal data send it as written again.{" "}
                  <button class="danger confirm-remove-term" onClick={() => remove(t.id)}>
                    Remove term
                  </button>{" "}
                  <button class="secondary" onClick={() => setConfirming(null)}>
                    Keep
                  </button>
                </span>
              ) : (
                <button class="secondary remove-term" title="Remove this term" onClick={() => setConfirming(t.id)}>
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      <PhoneNumbers />
      <OutboundLog />
    </section>
  );
}

// Countries offered for phone numbers (any other code works from `keyhold phone-region`).
const COUNTRIES = ["US", "CA", "GB", "IE", "AU", "NZ", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "ES", "PT", "IT", "SE", "NO", "DK", "FI", "PL", "CZ", "SK", "HU", "RO", "GR", "TR", "IL", "IN", "JP", "KR", "CN", "SG", "BR", "MX", "AR", "ZA"];

function countryName(code: string): string {
  try {
    return new Intl.DisplayNames(undefined, { type: "region" }).of(code) ?? code;
  } catch {
    return code;
  }
}

/** The region whose national phone numbers are hidden without a word such as "call" before them. */
function PhoneNumbers() {
  const [region, setRegion] = useState<PhoneRegion | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  useEffect(() => {
    commands.phoneRegionGet().then((r) => (r.status === "ok" ? setRegion(r.data) : setError(r.error)));
  }, []);
  const choose = async (choice: string) => {
    setError(null);
    const r = await commands.phoneRegionSet(choice);
    if (r.status === "ok") setRegion(r.data);
    else setError(r.error);
  };
  const codes = region && region.choice.length === 2 && !COUNTRIES.includes(region.choice) ? [region.choice, ...COUNTRIES] : COUNTRIES;
  return (
    <>
      <h3>Phone numbers</h3>
      <p class="fine">
        Numbers with a country code (+49 …) are always hidden. A national number (030 12345678, (415) 247-9263) is hidden
        when it is written the way your region writes them, or after a word such as "call" or "Telefon".
      </p>
      {region && (
        <label>
          Your region
          <select id="phone-region" value={region.choice} onChange={(e) => choose((e.target as HTMLSelectElement).value)}>
            <option value="system">
              {region.system ? `From the system: ${countryName(region.system)}` : "From the system (it names no country)"}
            </option>
            <option value="none">None: only after a word such as "call"</option>
            {codes.map((c) => (
              <option key={c} value={c}>
                {countryName(c)} ({c})
              </option>
            ))}
          </select>
        </label>
      )}
      {region && !region.region && (
        <p class="warning" id="phone-region-none">
          No region: a national phone number without a word such as "call" before it reaches cloud models as written.
        </p>
      )}
      <ErrorNote error={error} />
    </>
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
