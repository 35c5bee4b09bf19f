// Proxy: the local endpoint other tools use with an agent's token, never the provider key.
import { useEffect, useRef, useState } from "preact/hooks";
import { commands, events, type AgentCard, type CommandError, type Connection, type Issued, type ProxyStatus, type Tool } from "../bindings";
import { ErrorNote } from "../components/error-note";
import { CopyButton } from "../lib/markdown";

function Snippet({ id, text }: { id: string; text: string }) {
  return (
    <div class="snippet-box">
      <pre class="snippet" id={id}>
        {text}
      </pre>
      <CopyButton text={text} />
    </div>
  );
}

/** The port field: empty means "the remembered one"; anything else must be 1 to 65535. */
export function parsePort(text: string): number | null | "bad" {
  const t = text.trim();
  if (!t) return null;
  if (!/^\d{1,5}$/.test(t)) return "bad";
  const n = Number(t);
  return n >= 1 && n <= 65535 ? n : "bad";
}

/** The tools Keyhold knows how to connect, as the user knows them. */
export const TOOLS: { id: Tool; name: string }[] = [
  { id: "claude-code", name: "Claude Code" },
  { id: "codex", name: "Codex" },
  { id: "aider", name: "Aider" },
  { id: "continue", name: "Continue" },
  { id: "open-webui", name: "Open WebUI" },
];

/** Where a tool's settings go, in words. */
export function whereItGoes(c: Pick<Connection, "file">): string {
  return c.file ? `In ${c.file}:` : "In the shell you start it from:";
}

export function Proxy() {
  const [status, setStatus] = useState<ProxyStatus | null>(null);
  const [agents, setAgents] = useState<AgentCard[]>([]);
  const [error, setError] = useState<CommandError | null>(null);
  const [confirmRevoke, setConfirmRevoke] = useState<string | null>(null);
  const [port, setPort] = useState("");
  const [issued, setIssued] = useState<Issued | null>(null);
  const [agent, setAgent] = useState("");
  const [label, setLabel] = useState("");
  const [origins, setOrigins] = useState("");
  const [tool, setTool] = useState<Tool>("claude-code");
  const [connection, setConnection] = useState<Connection | null>(null);
  // Once the user has typed a port, a status arriving later does not overwrite it.
  const portEdited = useRef(false);

  const reload = async () => {
    const [s, a] = await Promise.all([commands.proxyStatus(), commands.agentsList()]);
    if (s.status === "ok") {
      setStatus(s.data);
      if (!portEdited.current) setPort(String(s.data.port));
      setOrigins(s.data.allowed_origins.join("\n"));
    } else setError(s.error);
    if (a.status === "ok") {
      setAgents(a.data);
      if (!agent && a.data.length) setAgent(a.data[0].agent.name);
    }
  };
  useEffect(() => {
    reload();
    const stop = events.configurationChanged.listen(() => reload());
    return () => {
      stop.then((u) => u());
    };
  }, []);

  const run = async (p: Promise<{ status: "ok"; data: ProxyStatus } | { status: "error"; error: CommandError }>) => {
    setError(null);
    const r = await p;
    if (r.status === "ok") setStatus(r.data);
    else setError(r.error);
  };

  const base = status?.address ?? `http://127.0.0.1:${status?.port ?? port}`;
  const token = issued?.token ?? "YOUR_KEYHOLD_TOKEN";
  const [showRevoked, setShowRevoked] = useState(false);
  const revoked = status?.tokens.filter((t) => t.revoked_at).length ?? 0;

  return (
    <section class="card wide" id="proxy">
      <h2>Proxy</h2>
      <p class="fine">
        Point any OpenAI- or Anthropic-SDK tool at Keyhold with an agent's local token as its API key. The request runs
        as that agent: its key, its fallback chain, its budget, its ledger. Only this machine can reach it.
      </p>
      <div class="row proxy-state">
        <span id="proxy-state" class={`badge ${status?.running ? "unlocked" : "muted"}`}>{status?.running ? `Running on ${status.address}` : "Stopped"}</span>
        <label class="inline-label">
          Port
          <input
            id="proxy-port"
            inputMode="numeric"
            value={port}
            onInput={(e) => {
              portEdited.current = true;
              setPort((e.target as HTMLInputElement).value);
            }}
          />
        </label>
        {status?.running ? (
          <button id="proxy-stop" class="secondary" onClick={() => run(commands.proxyStop())}>
            Stop
          </button>
        ) : (
          <button
            id="proxy-start"
            onClick={() => {
              const p = parsePort(port);
              if (p === "bad") setError({ kind: "input", message: `"${port.trim()}" is not a port: type a number from 1 to 65535.` } as CommandError);
              else run(commands.proxyStart(p));
            }}
          >
            Start
          </button>
        )}
      </div>
      <ErrorNote error={error} />

      <h3>Local tokens</h3>
      <form
        class="row"
        id="token-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          const r = await commands.tokensIssue(agent, label || null);
          if (r.status === "ok") setIssued(r.data);
          else setError(r.error);
          setLabel("");
          await reload();
        }}
      >
        <select id="token-agent" value={agent} onChange={(e) => setAgent((e.target as HTMLSelectElement).value)}>
          {agents.map((a) => (
            <option key={a.agent.id} value={a.agent.name}>
              {a.agent.name}
            </option>
          ))}
        </select>
        <input id="token-label" placeholder="label (e.g. editor)" value={label} onInput={(e) => setLabel((e.target as HTMLInputElement).value)} />
        <button type="submit" id="token-issue" disabled={!agent}>
          Issue token
        </button>
      </form>
      {issued && (
        <div class="issued" role="status">
          <p>
            Token for <strong>{issued.info.agent}</strong> ({issued.info.label}). Copy it now: Keyhold keeps only its hash
            and will not show it again.
          </p>
          <code id="issued-token">{issued.token}</code>
          <button class="secondary" onClick={() => navigator.clipboard?.writeText(issued.token)}>
            Copy
          </button>
        </div>
      )}
      <ul class="tokens">
        {status?.tokens.filter((t) => showRevoked || !t.revoked_at).map((t) => (
          <li key={t.id} data-token-id={t.id} class={t.revoked_at ? "inactive" : ""}>
            <code>{t.hint}</code> {t.agent} · {t.label} ·{" "}
            {t.revoked_at ? `revoked ${new Date(t.revoked_at).toLocaleString()}` : `issued ${new Date(t.created_at).toLocaleString()}`}
            {!t.revoked_at && confirmRevoke !== t.id && (
              <button class="danger revoke" onClick={() => setConfirmRevoke(t.id)}>
                Revoke
              </button>
            )}
            {confirmRevoke === t.id && (
              <span class="confirm" role="alertdialog">
                Revoke {t.label} ({t.hint})? Every tool using it stops working at once.{" "}
                <button
                  class="danger confirm-revoke"
                  onClick={async () => {
                    setConfirmRevoke(null);
                    const r = await commands.tokensRevoke(t.id);
                    if (r.status === "error") setError(r.error);
                    // A revoked token leaves the snippets: they would no longer work.
                    else if (issued?.info.id === t.id) setIssued(null);
                    if (connection?.token_id === t.id) setConnection(null);
                    await reload();
                  }}
                >
                  Revoke token
                </button>{" "}
                <button class="secondary" onClick={() => setConfirmRevoke(null)}>
                  Cancel
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {revoked > 0 && (
        <button class="link" id="show-revoked" onClick={() => setShowRevoked(!showRevoked)}>
          {showRevoked ? "Hide" : "Show"} {revoked} revoked {revoked === 1 ? "token" : "tokens"}
        </button>
      )}

      <h3>Connect a tool</h3>
      <p class="fine">What the tool needs, with this proxy's port and a token issued for it now (shown once). From a terminal, `keyhold connect TOOL --write` makes the same change in the tool's own config file.</p>
      <form
        class="row"
        id="connect-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          const r = await commands.connectTool(tool, agent);
          if (r.status === "ok") setConnection(r.data);
          else setError(r.error);
          await reload();
        }}
      >
        <select id="connect-tool" aria-label="Tool" value={tool} onChange={(e) => setTool((e.target as HTMLSelectElement).value as Tool)}>
          {TOOLS.map((t) => (
            <option key={t.id} value={t.id}>
              {t.name}
            </option>
          ))}
        </select>
        <select id="connect-agent" aria-label="Runs as agent" value={agent} onChange={(e) => setAgent((e.target as HTMLSelectElement).value)}>
          {agents.map((a) => (
            <option key={a.agent.id} value={a.agent.name}>
              {a.agent.name}
            </option>
          ))}
        </select>
        <button type="submit" id="connect-show" disabled={!agent}>
          Show settings
        </button>
      </form>
      {connection && (
        <div class="issued" role="status" id="connect-result">
          <p>
            {TOOLS.find((t) => t.id === connection.tool)?.name} runs as <strong>{agent}</strong>. {whereItGoes(connection)}
          </p>
          <Snippet id="connect-text" text={connection.text} />
          <p class="fine">The token is shown only now; revoke it above when the tool no longer needs it.</p>
        </div>
      )}

      <h3>Use it from code</h3>
      <Snippet id="snippet-openai" text={`from openai import OpenAI
client = OpenAI(base_url="${base}/v1", api_key="${token}")`} />
      <Snippet id="snippet-anthropic" text={`from anthropic import Anthropic
client = Anthropic(base_url="${base}", api_key="${token}")`} />
      <Snippet id="snippet-curl" text={`curl ${base}/v1/chat/completions \\
  -H "Authorization: Bearer ${token}" -H "Content-Type: application/json" \\
  -d '{"model": "any", "messages": [{"role": "user", "content": "Hello"}]}'`} />

      <h3>Web pages allowed to call it</h3>
      <p class="fine">Browsers are refused by default (a local proxy that adds your keys is a target for malicious pages). One origin per line, e.g. http://localhost:5173.</p>
      <textarea id="proxy-origins" rows={2} value={origins} onInput={(e) => setOrigins((e.target as HTMLTextAreaElement).value)} />
      <button class="secondary" id="proxy-origins-save" onClick={() => run(commands.proxySetOrigins(origins.split("\n")))}>
        Save origins
      </button>
    </section>
  );
}
