// The chat (agent mode): an agent's conversations, kept sealed in the vault, with the answer
// streaming in as markdown, who answered, tokens, cost, any fallback in plain words, what was
// replaced before sending, and Stop, Copy and Retry.
import { useEffect, useRef, useState } from "preact/hooks";
import { commands, events, type ConversationInfo, type Counts, type Preview, type Reply, type SavedLine, type Turn } from "../bindings";
import { CopyButton, Markdown } from "../lib/markdown";
import { usd } from "../lib/money";

type ChatLine = { role: "user" | "assistant"; text: string; reply?: Reply; error?: string };

function replyNote(r: Reply): string {
  const t = r.tokens;
  const cost = r.cost_usd === null ? "cost unknown (no price for this model)" : usd(r.cost_usd);
  return `${r.provider} · ${r.model} · in ${t.input} · out ${t.output} · cache read ${t.cache_read} · cache write ${t.cache_write} · ${cost}${r.estimated ? " (estimated)" : ""}`;
}

/** The text a cloud model receives, each placeholder highlighted. */
function Redacted({ preview }: { preview: Preview }) {
  const chars = Array.from(preview.text);
  const parts: preact.JSX.Element[] = [];
  let at = 0;
  preview.spans.forEach((s, i) => {
    if (s.start > at) parts.push(<span key={`t${i}`}>{chars.slice(at, s.start).join("")}</span>);
    parts.push(
      <mark key={`m${i}`} class={`placeholder ${s.kind}`} title={s.kind.replace("_", " ")}>
        {s.placeholder}
      </mark>,
    );
    at = s.end;
  });
  if (at < chars.length) parts.push(<span key="rest">{chars.slice(at).join("")}</span>);
  return <>{parts}</>;
}

function countsText(c: Counts): string {
  const nouns: Record<string, [string, string]> = {
    secret: ["secret", "secrets"],
    email: ["e-mail address", "e-mail addresses"],
    phone: ["phone number", "phone numbers"],
    payment_card: ["card number", "card numbers"],
    national_id: ["ID number", "ID numbers"],
    iban: ["IBAN", "IBANs"],
    ip: ["IP address", "IP addresses"],
    address: ["postal address", "postal addresses"],
    custom: ["dictionary term", "dictionary terms"],
  };
  return Object.entries((c ?? {}) as Record<string, number | undefined>)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([k, n]) => `${n} ${nouns[k]?.[n === 1 ? 0 : 1] ?? k}`)
    .join(", ");
}

function toSaved(lines: ChatLine[]): SavedLine[] {
  return lines.map((l) => ({ role: l.role, text: l.text, reply_json: l.reply ? JSON.stringify(l.reply) : null, error: l.error ?? null }));
}

function fromSaved(lines: SavedLine[]): ChatLine[] {
  return lines.map((l) => ({
    role: l.role === "user" ? "user" : "assistant",
    text: l.text,
    reply: l.reply_json ? (JSON.parse(l.reply_json) as Reply) : undefined,
    error: l.error ?? undefined,
  }));
}

export function Chat({ agent, agents, onAgent, onClose }: { agent: string; agents: string[]; onAgent: (a: string) => void; onClose: () => void }) {
  const [lines, setLines] = useState<ChatLine[]>([]);
  const [draft, setDraft] = useState("");
  const [busy, setBusy] = useState(false);
  const [showPreview, setShowPreview] = useState(false);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [convId, setConvId] = useState<string | null>(null);
  const [convs, setConvs] = useState<ConversationInfo[]>([]);
  const [confirmRemove, setConfirmRemove] = useState<string | null>(null);
  const [saveError, setSaveError] = useState<string | null>(null);
  const chatId = useRef<string>("");
  const input = useRef<HTMLTextAreaElement>(null);

  // The agent's conversations; the newest opens, so switching agents (or restarting) loses nothing.
  const loadList = async (openNewest: boolean) => {
    const r = await commands.conversationsList(agent);
    if (r.status !== "ok") return;
    setConvs(r.data);
    if (openNewest && r.data.length > 0) await openConv(r.data[0].id);
  };
  const openConv = async (id: string) => {
    const r = await commands.conversationOpen(id);
    if (r.status === "ok") {
      setConvId(id);
      setLines(fromSaved(r.data.lines));
    } else setSaveError(r.error.message);
  };
  useEffect(() => {
    loadList(true);
  }, [agent]);
  // The chat opens ready to type, and comes back to the field after each answer.
  useEffect(() => {
    input.current?.focus();
    input.current?.scrollIntoView?.({ block: "nearest" });
  }, []);
  useEffect(() => {
    if (!busy) input.current?.focus();
  }, [busy]);

  const history = (text: string, from: ChatLine[] = lines): Turn[] => [
    ...from.filter((l) => !l.error && l.text).map((l) => ({ role: l.role, text: l.text })),
    { role: "user", text },
  ];
  useEffect(() => {
    if (!showPreview || !draft.trim()) {
      setPreview(null);
      return;
    }
    const timer = setTimeout(async () => {
      const r = await commands.privacyPreview(agent, history(draft));
      if (r.status === "ok") setPreview(r.data);
    }, 150);
    return () => clearTimeout(timer);
  }, [draft, showPreview, agent, lines.length]);

  useEffect(() => {
    const stop = events.chatDelta.listen((e) => {
      if (e.payload.chat_id !== chatId.current) return;
      setLines((ls) => {
        const copy = ls.slice();
        const last = copy[copy.length - 1];
        copy[copy.length - 1] = { ...last, text: last.text + e.payload.text };
        return copy;
      });
    });
    return () => {
      stop.then((u) => u());
    };
  }, []);

  /** Sends `text` after `before` (the conversation so far), then keeps the conversation. */
  const ask = async (text: string, before: ChatLine[]) => {
    const turns = history(text, before);
    chatId.current = `${Date.now()}-${Math.random()}`;
    const pending: ChatLine[] = [...before, { role: "user", text }, { role: "assistant", text: "" }];
    setLines(pending);
    setBusy(true);
    const r = await commands.chatSend(agent, chatId.current, turns);
    setBusy(false);
    let finished: ChatLine[] = [];
    setLines((ls) => {
      const copy = ls.slice();
      const last = copy[copy.length - 1];
      copy[copy.length - 1] = r.status === "ok" ? { ...last, reply: r.data } : { ...last, error: r.error.message };
      finished = copy;
      return copy;
    });
    const saved = await commands.conversationSave(agent, convId, toSaved(finished.length ? finished : pending));
    if (saved.status === "ok") {
      setConvId(saved.data.id);
      setSaveError(null);
      loadList(false);
    } else setSaveError(`This conversation was not kept: ${saved.error.message}`);
  };

  const send = async (e: Event) => {
    e.preventDefault();
    if (busy || !draft.trim()) return;
    const text = draft;
    setDraft("");
    await ask(text, lines);
  };

  const retry = async () => {
    // The last question again, without the answer it got.
    const lastUser = lines.map((l) => l.role).lastIndexOf("user");
    if (lastUser < 0 || busy) return;
    await ask(lines[lastUser].text, lines.slice(0, lastUser));
  };

  const fresh = () => {
    setConvId(null);
    setLines([]);
    input.current?.focus();
  };

  return (
    <section class="card wide chat" id="chat" aria-label={`Chat with ${agent}`}>
      <div class="chat-head">
        <h2>Chat</h2>
        <label class="inline-label">
          <span class="sr-only">Agent</span>
          <select id="chat-agent" value={agent} onChange={(e) => onAgent((e.target as HTMLSelectElement).value)} disabled={busy}>
            {agents.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <button class="secondary" id="chat-new" onClick={fresh} disabled={busy}>
          New conversation
        </button>
        <button class="secondary" id="chat-close" aria-label="Close the chat" onClick={onClose}>
          Close
        </button>
      </div>
      <div class="chat-body">
        <nav class="conversations" id="conversations" aria-label="Conversations">
          {convs.length === 0 && <p class="fine">No saved conversations with {agent} yet.</p>}
          <ul>
            {convs.map((c) => (
              <li key={c.id} class={c.id === convId ? "on" : ""}>
                <button class="conv" onClick={() => openConv(c.id)} disabled={busy} title={c.title}>
                  <span class="conv-title">{c.title}</span>
                  <span class="fine">{c.updated_at ? new Date(c.updated_at).toLocaleString() : ""}</span>
                </button>
                {confirmRemove === c.id ? (
                  <span class="confirm">
                    <button class="danger" onClick={async () => {
                      await commands.conversationRemove(c.id);
                      setConfirmRemove(null);
                      if (c.id === convId) fresh();
                      loadList(false);
                    }}>Delete</button>
                    <button class="secondary" onClick={() => setConfirmRemove(null)}>Keep</button>
                  </span>
                ) : (
                  <button class="link conv-remove" aria-label={`Delete the conversation ${c.title}`} onClick={() => setConfirmRemove(c.id)}>
                    ×
                  </button>
                )}
              </li>
            ))}
          </ul>
        </nav>
        <div class="chat-main">
          <ol class="chat-lines" aria-live="polite">
            {lines.map((l, i) => {
              const streaming = l.role === "assistant" && busy && i === lines.length - 1;
              return (
                <li class={`chat-line ${l.role}`} key={i}>
                  <div class="chat-text">
                    {l.role === "assistant" ? <Markdown text={l.text || (streaming ? "…" : "")} /> : l.text}
                  </div>
                  {l.reply && (
                    <>
                      <div class="reply-meta">
                        <span class={`badge ${l.reply.local ? "local" : "cloud"}`}>{l.reply.local ? "stayed on this machine" : "cloud"}</span>{" "}
                        {replyNote(l.reply)}
                        {l.reply.stopped && <span class="badge warn"> stopped</span>}
                      </div>
                      {countsText(l.reply.redacted) && (
                        <div class="privacy-note" role="note">
                          Replaced before sending: {countsText(l.reply.redacted)}. The answer shows your own values again.
                        </div>
                      )}
                      {l.reply.unknown_placeholders > 0 && (
                        <div class="notice" role="note">
                          The answer holds {l.reply.unknown_placeholders} placeholder(s) Keyhold did not make; they are shown as written.
                        </div>
                      )}
                      {l.reply.cloud_unreachable && (
                        <div class="notice" id="offer-offline">
                          The cloud looks unreachable; a local step answered.{" "}
                          <button class="link" id="go-offline" onClick={() => commands.setOffline(true)}>
                            Switch to offline mode
                          </button>
                        </div>
                      )}
                      {l.reply.fallback_note && (
                        <div class="fallback-note" role="note">
                          {l.reply.fallback_note}
                        </div>
                      )}
                    </>
                  )}
                  {l.error && (
                    <p class="error" role="alert">
                      {l.error}
                    </p>
                  )}
                  {l.role === "assistant" && !streaming && (
                    <div class="line-actions">
                      {l.text && <CopyButton text={l.text} />}
                      {i === lines.length - 1 && (
                        <button class="secondary" id="chat-retry" onClick={retry}>
                          Retry
                        </button>
                      )}
                    </div>
                  )}
                </li>
              );
            })}
          </ol>
          {saveError && <p class="error" role="alert">{saveError}</p>}
          <form class="inline" onSubmit={send}>
            <textarea
              id="chat-input"
              ref={input}
              rows={2}
              value={draft}
              placeholder="Message (Enter to send, Shift+Enter for a new line)"
              onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e);
              }}
            />
            {busy ? (
              <button type="button" id="chat-stop" class="danger" onClick={() => commands.chatStop(chatId.current)}>
                Stop
              </button>
            ) : (
              <button type="submit" id="chat-send">
                Send
              </button>
            )}
          </form>
      <label class="check">
            <input type="checkbox" id="chat-preview-toggle" checked={showPreview} onChange={(e) => setShowPreview((e.target as HTMLInputElement).checked)} />
            Show what the model receives
          </label>
          {showPreview && preview && (
            <div class="preview" id="chat-preview" aria-live="polite">
              <div class="fine">
                What a cloud step receives ({preview.policy} policy){countsText(preview.counts) ? `: ${countsText(preview.counts)} replaced` : ": nothing to replace"}
                {preview.blocked ? " — the block policy will refuse to send this." : "."}
              </div>
              <div class="chat-text">
                <Redacted preview={preview} />
              </div>
            </div>
          )}
        </div>
      </div>
    </section>
  );
}
