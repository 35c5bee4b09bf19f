// The first page after unlock: what was spent, what each agent is doing, which keys work, and
// what needs attention. With nothing set up yet, the path from an empty vault to a first answer.
import { useEffect, useState } from "preact/hooks";
import {
  commands,
  events,
  type AgentState,
  type AppEnvironment,
  type KeySummary,
  type Overview as OverviewData,
  type ProxyStatus,
} from "../bindings";
import { budgetLook, usd } from "../lib/money";
import { healthLook } from "./providers";

export type Go = (page: "agents" | "usage" | "providers" | "local" | "proxy" | "privacy" | "prices" | "vault") => void;

const STATE_WORDS: Record<AgentState, string> = {
  idle: "idle",
  working: "working",
  on_fallback: "answered on a fallback",
  over_budget: "over budget",
  offline: "offline (local steps only)",
};

export function Overview({ go, onChat }: { go: Go; onChat: (agent: string | null) => void }) {
  const [o, setO] = useState<OverviewData | null>(null);
  const [keys, setKeys] = useState<KeySummary[]>([]);
  const [env, setEnv] = useState<AppEnvironment | null>(null);
  const [proxy, setProxy] = useState<ProxyStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    const [ov, ks, px] = await Promise.all([commands.overview(), commands.keysList(), commands.proxyStatus()]);
    if (ov.status === "ok") setO(ov.data);
    else setError(ov.error.message);
    if (ks.status === "ok") setKeys(ks.data);
    if (px.status === "ok") setProxy(px.data);
    setEnv(await commands.appEnvironment());
  };
  useEffect(() => {
    load();
    const stops = [
      events.ledgerChanged.listen(() => load()),
      events.ollamaChanged.listen(() => load()),
      events.configurationChanged.listen(() => load()),
    ];
    return () => stops.forEach((s) => s.then((u) => u()));
  }, []);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!o) return <p aria-busy="true">Loading…</p>;

  const hasKey = keys.length > 0;
  const tested = keys.some((k) => k.health === "working");
  const hasAgent = o.agents.length > 0;
  const answered = o.month_requests > 0;
  const todo = o.attention;
  const failRate = o.month_requests ? Math.round((o.month_failures / o.month_requests) * 100) : 0;

  return (
    <div class="overview" id="overview">
      {!(hasKey && hasAgent && answered) && (
        <section class="card wide" id="first-steps">
          <h2>Get started</h2>
          <ol class="steps">
            <li class={hasKey ? "done" : ""}>
              <span>Add a provider key (or the address of your Ollama)</span>
              {!hasKey && <button onClick={() => go("providers")}>Add a key</button>}
            </li>
            <li class={tested ? "done" : ""}>
              <span>Test it: Keyhold asks the provider for its models</span>
              {hasKey && !tested && <button onClick={() => go("providers")}>Test a key</button>}
            </li>
            <li class={hasAgent ? "done" : ""}>
              <span>Create an agent: a model, a daily budget, and where to fall back</span>
              {hasKey && !hasAgent && <button onClick={() => go("agents")}>Create an agent</button>}
            </li>
            <li class={answered ? "done" : ""}>
              <span>Chat with it, or give its token to your tools through the proxy</span>
              {hasAgent && !answered && <button onClick={() => onChat(null)}>Open the chat</button>}
            </li>
          </ol>
        </section>
      )}
      <section class="tiles" aria-label="Spend">
        <div class="tile" id="spend-today">
          <span class="tile-label">Today</span>
          <strong title={`${o.today_usd} USD`}>{usd(o.today_usd)}</strong>
          {o.daily_budgets_usd && <span class="fine">of {usd(o.daily_budgets_usd)} in daily budgets</span>}
        </div>
        <div class="tile" id="spend-month">
          <span class="tile-label">This month</span>
          <strong title={`${o.month_usd} USD`}>{usd(o.month_usd)}</strong>
          <span class="fine">
            {o.month_requests.toLocaleString()} {o.month_requests === 1 ? "request" : "requests"}
            {o.month_requests ? `, ${failRate} % failed` : ""}
          </span>
        </div>
        <div class="tile" id="local-status">
          <span class="tile-label">Local models</span>
          <strong>{env?.ollama?.running ? `${env.ollama.models.length} ready` : "none"}</strong>
          <span class="fine">{env?.ollama?.running ? `Ollama ${env.ollama.version}` : "No Ollama answers on this machine"}</span>
        </div>
        <div class="tile" id="proxy-tile">
          <span class="tile-label">Proxy</span>
          <strong>{proxy?.running ? "running" : "stopped"}</strong>
          <span class="fine">{proxy?.running ? proxy.address : "Start it on the Proxy page"}</span>
        </div>
      </section>
      {todo.length > 0 && (
        <section class="card wide attention" id="attention">
          <h2>Needs a look</h2>
          <ul>
            {todo.map((t) => (
              <li key={t}>{t}</li>
            ))}
          </ul>
        </section>
      )}
      {hasAgent && (
        <section class="card wide" id="overview-agents">
          <h2>Agents</h2>
          <ul class="lines">
            {o.agents.map((a) => {
              const b = budgetLook(a.today.state, a.today.percent);
              return (
                <li key={a.id} data-agent={a.name}>
                  <strong>{a.name}</strong>
                  <span class={`state-word ${a.state}`}>{STATE_WORDS[a.state]}</span>
                  <span class={`spend ${a.today.budget_usd ? b.tone : ""}`} title={`${a.today.spent_usd} USD`}>
                    {usd(a.today.spent_usd)} today
                    {a.today.budget_usd && (
                      <>
                        {" "}
                        of {usd(a.today.budget_usd)} <span class="bar" aria-hidden="true"><span style={{ width: `${Math.min(100, a.today.percent ?? 0)}%` }} /></span>
                        <span class="budget-state">{b.words}</span>
                      </>
                    )}
                  </span>
                  {a.failing_keys.length > 0 && (
                    <span class="health bad key-failing">
                      <span class="dot" /> key failing: {a.failing_keys.join(", ")}
                    </span>
                  )}
                  <button class="secondary line-end overview-chat" onClick={() => onChat(a.name)} aria-label={`Chat with ${a.name}`}>
                    Chat
                  </button>
                </li>
              );
            })}
          </ul>
        </section>
      )}
      {hasKey && (
        <section class="card wide" id="overview-keys">
          <h2>Keys</h2>
          <ul class="lines">
            {keys.map((k) => {
              const line = o.keys.find((l) => l.id === k.id);
              const h = healthLook(line?.health ?? k.health);
              return (
                <li key={k.id} data-key={k.label}>
                  <strong>{k.label}</strong>
                  <span class="provider">{k.provider}</span>
                  <span class={`health ${h.tone}`}>
                    <span class="dot" /> {h.word}
                  </span>
                  <span class="fine">{line?.used_by.length ? `used by ${line.used_by.join(", ")}` : "no agent uses it"}</span>
                </li>
              );
            })}
          </ul>
        </section>
      )}
    </div>
  );
}
