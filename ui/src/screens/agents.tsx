// Agents: cards with today's spend against the budget and any failing key, a form to create or
// edit one; Chat on a card opens the Chat page with that agent.
import { useEffect, useRef, useState } from "preact/hooks";
import { commands, events, type AgentCard, type CommandError, type KeyHealth, type KeySummary, type Fetched, type Policy, type ToolValues } from "../bindings";
import { ErrorNote } from "../components/error-note";
import { budgetLook, usd } from "../lib/money";
import { healthLook } from "./providers";

/** Why a key is not fit to be chosen, in words, or null when it is (working, or not tested yet). */
export function keyTrouble(k: KeySummary, health: KeyHealth): string | null {
  switch (health) {
    case "rejected":
      return `The provider refused the key “${k.label}” when it was last tested.`;
    case "refused_in_use":
      return `The provider refused the key “${k.label}” on its last call.`;
    case "unreachable":
      return `The key “${k.label}” could not reach its provider when it was last tested.`;
    case "unexpected":
      return `The key “${k.label}” got a reply Keyhold did not expect when it was last tested (a wrong address?).`;
    case "deactivated":
      return `The key “${k.label}” is deactivated: nothing is sent on it.`;
    default:
      return null;
  }
}

export function Agents({ onChat }: { onChat: (agent: string) => void }) {
  const [cards, setCards] = useState<AgentCard[]>([]);
  const [keys, setKeys] = useState<KeySummary[]>([]);
  const [editing, setEditing] = useState<AgentCard | "new" | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);
  const [error, setError] = useState<CommandError | null>(null);

  const [failing, setFailing] = useState<Record<string, string[]>>({});
  // Each key's health with its last call counted (the Overview's), for the form's warnings.
  const [health, setHealth] = useState<Record<string, KeyHealth>>({});
  const reload = async () => {
    const [a, k, o] = await Promise.all([commands.agentsList(), commands.keysList(), commands.overview()]);
    if (a.status === "ok") setCards(a.data);
    else setError(a.error);
    if (k.status === "ok") setKeys(k.data);
    // Keys in each agent's chain that the provider refused on their last call (or deactivated).
    if (o.status === "ok") {
      setFailing(Object.fromEntries(o.data.agents.map((l) => [l.id, l.failing_keys])));
      setHealth(Object.fromEntries(o.data.keys.map((l) => [l.id, l.health])));
    }
  };

  useEffect(() => {
    reload();
    const stops = [events.ledgerChanged.listen(() => reload()), events.configurationChanged.listen(() => reload())];
    return () => {
      stops.forEach((s) => s.then((u) => u()));
    };
  }, []);

  const act = async (run: () => Promise<{ status: "ok" } | { status: "error"; error: CommandError }>) => {
    setError(null);
    const r = await run();
    if (r.status === "error") setError(r.error);
    await reload();
  };

  return (
    <div class="agents-page">
      <section class="card wide" id="agents">
        <h2>Agents</h2>
        <ErrorNote error={error} />
        {cards.length === 0 && <p class="empty">No agents yet. Create one to chat with it, or to hand its token to your tools.</p>}
        <ul class="agent-cards">
          {cards.map((c) => (
            <li class="agent-card" data-agent={c.agent.name} key={c.agent.id}>
              <div class="key-head">
                <strong>{c.agent.name}</strong>
                <span class="provider">{c.agent.model}</span>
                <span class="fine">on {c.key_label ?? "the provider's default key"}</span>
              </div>
              {c.fallback_labels.length > 0 && <div class="fine">Falls back to: {c.fallback_labels.join(" → ")}</div>}
              {(failing[c.agent.id] ?? []).length > 0 && (
                <div class="health bad key-failing" role="note">
                  <span class="dot" aria-hidden="true" /> Key failing: {failing[c.agent.id].join(", ")}. Replace it on the Keys page.
                </div>
              )}
              <div class={`spend ${c.budget_usd ? budgetLook(c.budget_state, c.budget_percent).tone : ""}`}>
                Today:{" "}
                <span class="spent" title={`$${c.spent_today_usd} exactly`}>
                  {usd(c.spent_today_usd)}
                </span>
                {c.budget_usd ? (
                  <>
                    {" "}
                    of <span title={`$${c.budget_usd} exactly`}>{usd(c.budget_usd)}</span>
                    <span class="bar" aria-hidden="true">
                      <span style={{ width: `${Math.min(c.budget_percent ?? 0, 100)}%` }} />
                    </span>
                    <span class="budget-state">{budgetLook(c.budget_state, c.budget_percent).words}</span>
                    <span class="fine"> (when reached: {c.agent.when_over === "local" ? "local steps only" : "refuse"})</span>
                  </>
                ) : (
                  <span class="fine"> (no daily budget)</span>
                )}
              </div>
              <div class="actions">
                <button class="chat-open" onClick={() => onChat(c.agent.name)}>
                  Chat
                </button>
                <button class="secondary edit" onClick={() => setEditing(c)}>
                  Edit
                </button>
                <button class="secondary duplicate" onClick={() => act(() => commands.agentsDuplicate(c.agent.id))}>
                  Duplicate
                </button>
                <button class="danger delete-agent" onClick={() => setConfirmDelete(c.agent.id)}>
                  Delete
                </button>
              </div>
              {confirmDelete === c.agent.id && (
                <div class="confirm" role="alertdialog">
                  <p>
                    Delete <strong>{c.agent.name}</strong>? Its proxy tokens stop working at once; its ledger rows are kept.
                    This cannot be undone.
                  </p>
                  <button
                    class="danger confirm-delete-agent"
                    onClick={() => {
                      setConfirmDelete(null);
                      act(() => commands.agentsRemove(c.agent.id));
                    }}
                  >
                    Delete agent
                  </button>{" "}
                  <button class="secondary" onClick={() => setConfirmDelete(null)}>
                    Cancel
                  </button>
                </div>
              )}
            </li>
          ))}
        </ul>
        {editing === null && (
          <button id="new-agent" onClick={() => setEditing("new")}>
            New agent
          </button>
        )}
        {editing !== null && (
          <AgentForm
            key={editing === "new" ? "new" : editing.agent.id}
            card={editing === "new" ? null : editing}
            keys={keys}
            health={health}
            onDone={async () => {
              setEditing(null);
              await reload();
            }}
          />
        )}
      </section>
    </div>
  );
}

function AgentForm({
  card,
  keys,
  health,
  onDone,
}: {
  card: AgentCard | null;
  keys: KeySummary[];
  health: Record<string, KeyHealth>;
  onDone: () => void;
}) {
  const a = card?.agent;
  const form = useRef<HTMLFormElement>(null);
  // The form opens below the cards: bring it into view and put the cursor in it, or the click on
  // Edit looks dead.
  useEffect(() => {
    form.current?.scrollIntoView?.({ block: "start", behavior: "smooth" });
    form.current?.querySelector<HTMLInputElement>("#agent-name")?.focus({ preventScroll: true });
  }, []);
  const healthOf = (k: KeySummary): KeyHealth => health[k.id] ?? k.health;
  const trouble = (id: string) => {
    const k = keys.find((x) => x.id === id);
    return k ? keyTrouble(k, healthOf(k)) : null;
  };
  const keyOption = (k: KeySummary) => {
    const h = healthOf(k);
    const bad = keyTrouble(k, h) !== null;
    return (
      <option key={k.id} value={k.id}>
        {k.label} ({k.provider}){bad ? ` — ${healthLook(h).word}` : ""}
      </option>
    );
  };
  const [name, setName] = useState(a?.name ?? "");
  const [model, setModel] = useState(a?.model ?? "");
  const [key, setKey] = useState(a?.key_id ?? "");
  const [system, setSystem] = useState(a?.system_prompt ?? "");
  const [temperature, setTemperature] = useState(a?.temperature?.toString() ?? "");
  const [maxTokens, setMaxTokens] = useState(a?.max_tokens?.toString() ?? "1024");
  const [steps, setSteps] = useState<{ key: string; model: string }[]>(
    a?.fallback.map((s) => ({ key: s.key_id, model: s.model })) ?? [],
  );
  const [budget, setBudget] = useState(card?.budget_usd ?? "");
  const [whenOver, setWhenOver] = useState<"local" | "refuse">(a?.when_over ?? "local");
  const [privacy, setPrivacy] = useState<Policy>(a?.privacy ?? "secrets");
  const [toolValues, setToolValues] = useState<ToolValues>(a?.tool_values ?? "restore");
  const [fetched, setFetched] = useState<Fetched>(a?.fetched ?? "reserve");
  const [error, setError] = useState<CommandError | null>(null);
  const [warnings, setWarnings] = useState<string[]>([]);
  // The chosen key's models are suggested first (the key comes before the model in the form).
  const models = Array.from(new Set([...(keys.find((k) => k.id === key)?.models ?? []), ...keys.flatMap((k) => k.models)]));
  // The main model is chosen like a fallback step's: from the models the key's last test listed
  // (every key's, grouped, when the provider's default key serves it), or typed when it is not
  // listed (a new model, a key never tested).
  const groups = (key ? keys.filter((k) => k.id === key) : keys).filter((k) => k.models.length > 0);
  const listed = new Set(groups.flatMap((k) => k.models));
  const [typing, setTyping] = useState(false);
  const typed = groups.length === 0 || typing || (model !== "" && !listed.has(model));
  // Why the chosen keys are not fit, if they are not (the main key's, each step's).
  const mainTrouble = key ? trouble(key) : null;
  const stepTrouble = steps.map((s) => (s.key ? trouble(s.key) : null));

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const r = await commands.agentsSave(a?.id ?? null, {
      name,
      model,
      key: key || null,
      system_prompt: system || null,
      temperature: temperature === "" ? null : Number(temperature),
      max_tokens: maxTokens === "" ? null : Number(maxTokens),
      fallback: steps.filter((s) => s.key && s.model).map((s) => `${s.key}:${s.model}`),
      budget_usd: budget || null,
      when_over: whenOver,
      privacy,
      tool_values: toolValues,
      fetched,
    });
    if (r.status === "error") {
      setError(r.error);
      return;
    }
    setWarnings(r.data.warnings);
    if (r.data.warnings.length === 0) onDone();
  };

  return (
    <form class="add-key" id="agent-form" ref={form} onSubmit={submit}>
      <h3>{a ? `Edit ${a.name}` : "New agent"}</h3>
      <datalist id="known-models">
        {models.map((m) => (
          <option key={m} value={m} />
        ))}
      </datalist>
      <label>
        Name
        <input id="agent-name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Key
        <select id="agent-key" value={key} onChange={(e) => setKey((e.target as HTMLSelectElement).value)}>
          <option value="">The default key of the model's provider</option>
          {keys.map(keyOption)}
        </select>
      </label>
      {mainTrouble && (
        <p class="warning key-warning" role="note">
          {mainTrouble} Calls on it will fail until you replace or test it on the Keys page.
        </p>
      )}
      <label>
        Model
        {groups.length > 0 && (
          <select
            id="agent-model-choice"
            value={typed ? "__typed" : model}
            onChange={(e) => {
              const v = (e.target as HTMLSelectElement).value;
              if (v === "__typed") {
                setTyping(true);
              } else {
                setTyping(false);
                setModel(v);
              }
            }}
          >
            {!typed && model === "" && <option value="">Choose a model</option>}
            {groups.map((k) => (
              <optgroup key={k.id} label={`${k.label} (${k.provider})`}>
                {k.models.map((m) => (
                  <option key={`${k.id}:${m}`} value={m}>
                    {m}
                  </option>
                ))}
              </optgroup>
            ))}
            <option value="__typed">Another model (type its name)…</option>
          </select>
        )}
      </label>
      {typed && (
        <input
          id="agent-model"
          aria-label="Model name"
          list="known-models"
          value={model}
          placeholder={key ? "A model this key's provider serves" : "e.g. claude-haiku-4-5, gpt-4o-mini"}
          onInput={(e) => setModel((e.target as HTMLInputElement).value)}
        />
      )}
      <label>
        System prompt
        <textarea id="agent-system" rows={3} value={system} onInput={(e) => setSystem((e.target as HTMLTextAreaElement).value)} />
      </label>
      <div class="row">
        <label>
          Temperature
          <input id="agent-temperature" value={temperature} placeholder="provider default" onInput={(e) => setTemperature((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Max tokens
          <input id="agent-max-tokens" value={maxTokens} onInput={(e) => setMaxTokens((e.target as HTMLInputElement).value)} />
        </label>
      </div>
      <fieldset>
        <legend>Fallback chain, in order</legend>
        {steps.map((s, i) => (
          <div class="row step" key={i}>
            <select
              class="step-key"
              value={s.key}
              onChange={(e) => setSteps(steps.map((x, j) => (j === i ? { ...x, key: (e.target as HTMLSelectElement).value } : x)))}
            >
              <option value="">Choose a key</option>
              {keys.map(keyOption)}
            </select>
            {(keys.find((k) => k.id === s.key)?.models.length ?? 0) > 0 ? (
              <select
                class="step-model"
                value={s.model}
                onChange={(e) => setSteps(steps.map((x, j) => (j === i ? { ...x, model: (e.target as HTMLSelectElement).value } : x)))}
              >
                <option value="">Choose a model</option>
                {keys.find((k) => k.id === s.key)!.models.map((m) => (
                  <option key={m} value={m}>
                    {m}
                  </option>
                ))}
              </select>
            ) : (
              <input
                class="step-model"
                list={`step-models-${i}`}
                placeholder="model"
                value={s.model}
                onInput={(e) => setSteps(steps.map((x, j) => (j === i ? { ...x, model: (e.target as HTMLInputElement).value } : x)))}
              />
            )}
            <datalist id={`step-models-${i}`}>
              {(keys.find((k) => k.id === s.key)?.models ?? models).map((m) => (
                <option key={m} value={m} />
              ))}
            </datalist>
            <span class="step-actions">
              <button
                type="button"
                class="secondary step-up"
                aria-label={`Move step ${i + 1} up`}
                disabled={i === 0}
                onClick={() => setSteps(steps.map((x, j) => (j === i - 1 ? steps[i] : j === i ? steps[i - 1] : x)))}
              >
                ↑
              </button>
              <button
                type="button"
                class="secondary step-down"
                aria-label={`Move step ${i + 1} down`}
                disabled={i === steps.length - 1}
                onClick={() => setSteps(steps.map((x, j) => (j === i + 1 ? steps[i] : j === i ? steps[i + 1] : x)))}
              >
                ↓
              </button>
              <button type="button" class="secondary" onClick={() => setSteps(steps.filter((_, j) => j !== i))}>
                Remove
              </button>
            </span>
            {stepTrouble[i] && (
              <p class="warning key-warning step-warning" role="note">
                {stepTrouble[i]} Until you replace or test it on the Keys page, this step fails and the chain goes on to the next.
              </p>
            )}
          </div>
        ))}
        <button type="button" class="secondary" id="add-step" onClick={() => setSteps([...steps, { key: "", model: "" }])}>
          Add a fallback step
        </button>
      </fieldset>
      <div class="row">
        <label>
          Daily budget (USD)
          <input id="agent-budget" value={budget} placeholder="none" onInput={(e) => setBudget((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          When it is reached
          <select id="agent-when-over" value={whenOver} onChange={(e) => setWhenOver((e.target as HTMLSelectElement).value as "local" | "refuse")}>
            <option value="local">Continue on local steps only</option>
            <option value="refuse">Refuse</option>
          </select>
        </label>
      </div>
      {budget.trim() !== "" && budget.trim().toLowerCase() !== "none" && (
        <label>
          Input the provider fetches
          <select id="agent-fetched" value={fetched} onChange={(e) => setFetched((e.target as HTMLSelectElement).value as Fetched)}>
            <option value="reserve">Count the model's whole context window against the budget</option>
            <option value="refuse">Refuse the request on paid steps</option>
          </select>
          <span class="fine">
            A request may have the provider fetch a document or image by URL, a file by id, or search the web: a few
            bytes here, up to a whole context window billed. Keyhold cannot see its size, so the budget either holds the
            most it can cost or the request is not sent while the budget applies.
          </span>
        </label>
      )}
      <label>
        What cloud models receive
        <select id="agent-privacy" value={privacy} onChange={(e) => setPrivacy((e.target as HTMLSelectElement).value as Policy)}>
          <option value="secrets">Hide secrets (API keys, tokens, passwords, private keys)</option>
          <option value="pii">Hide secrets and personal data (e-mails, phones, cards, IBANs, IPs, addresses, your dictionary)</option>
          <option value="block">Refuse to send anything that holds secrets or personal data</option>
          <option value="off">Send everything as typed</option>
        </select>
        <span class="fine">
          Replaced on this machine before any cloud step, and restored in the answer. Local models get the original. For a
          tool's embeddings through the proxy, the placeholders are what gets embedded (a search then finds "[EMAIL_1]", not
          the address): choose "Send everything" for an agent that indexes text you are willing to send as it is.
        </span>
      </label>
      {(privacy === "pii" || privacy === "block") && (
        <label>
          What a tool call gets back
          <select id="agent-tool-values" value={toolValues} onChange={(e) => setToolValues((e.target as HTMLSelectElement).value as ToolValues)}>
            <option value="restore">Your values, except secrets (a mail tool gets the real address)</option>
            <option value="placeholders">Placeholders only (no value of yours reaches a tool)</option>
          </select>
          <span class="fine">
            When the model writes a placeholder into a tool call's arguments. A secret always stays "[SECRET_1]" there, so a
            model talked into handing your key to a tool that sends it somewhere hands over the placeholder.
          </span>
        </label>
      )}
      <ErrorNote error={error} />
      {warnings.map((w) => (
        <p class="warning" key={w}>
          {w}
        </p>
      ))}
      <div class="actions">
        <button type="submit" id="agent-save">
          {warnings.length ? "Saved: close" : "Save agent"}
        </button>
        <button type="button" class="secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
