// The Chat page, where Keyhold opens: one conversation list across agents (grouped by day,
// searchable, renamable), an agent picker showing the agent's model, chain and today's budget,
// the answer streaming into view as markdown, the composer pinned below, and what each answer
// cost and where it went in plain words. Conversations are kept sealed in the vault.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  commands,
  events,
  type AgentCard,
  type ConversationEntry,
  type Counts,
  type Preview,
  type Reply,
  type SavedLine,
  type Turn,
} from "../bindings";
import { CopyButton, Markdown } from "../lib/markdown";
import { budgetLook, tokens, usd } from "../lib/money";
import { isTyping } from "../lib/keyboard";

type ChatLine = { role: "user" | "assistant"; text: string; reply?: Reply; error?: string };

/** Where the Agents page (or Ctrl+N) asks the Chat page to go when it opens. */
export const OPEN_AGENT = "keyhold.chat.open";
export const NEW_CHAT = "keyhold.chat.new";
/** The conversation open last, back after a restart. */
const LAST = "keyhold.chat.last";

/** "$0.0012 · OpenAI gpt-4o-mini · 3 cached tokens": what it cost and who answered. */
export function replyWords(r: Reply, providerName: (id: string) => string): string {
  const cost = r.cost_usd === null || r.cost_usd === undefined ? "cost unknown (no price for this model)" : usd(r.cost_usd);
  const parts = [`${cost}${r.estimated ? " (estimated)" : ""}`, `${providerName(r.provider)} ${r.model}`];
  if (r.tokens.cache_read > 0) parts.push(`${tokens(r.tokens.cache_read)} cached ${r.tokens.cache_read === 1 ? "token" : "tokens"}`);
  return parts.join(" · ");
}

/** The token classes, for the reply line's tooltip. */
export function tokenClasses(r: Reply): string {
  const t = r.tokens;
  return `input ${tokens(t.input)} · output ${tokens(t.output)} · cache read ${tokens(t.cache_read)} · cache write ${tokens(t.cache_write)}${r.key_label ? ` · key ${r.key_label}` : ""}`;
}

/** "Today", "Yesterday", or the date, in the user's zone. */
export function dayLabel(rfc3339: string, now: Date = new Date()): string {
  const d = new Date(rfc3339);
  const day = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((day(now) - day(d)) / 86_400_000);
  if (diff === 0) return "Today";
  if (diff === 1) return "Yesterday";
  return d.toLocaleDateString(undefined, {
    weekday: diff < 7 ? "long" : undefined,
    day: "numeric",
    month: "short",
    year: d.getFullYear() === now.getFullYear() ? undefined : "numeric",
  });
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


export function Chat({ onGetStarted }: { onGetStarted?: () => void }) {
  const [cards, setCards] = useState<AgentCard[] | null>(null);
  const [names, setNames] = useState<Record<string, string>>({});
  const [agent, setAgent] = useState<string>("");
  const [lines, setLines] = useState<ChatLine[]>([]);
  const [draft, setDraft] = useState("");
  const [busy, setBusy] = useState(false);
  const [showPreview, setShowPreview] = useState(false);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [convId, setConvId] = useState<string | null>(null);
  const [convs, setConvs] = useState<ConversationEntry[]>([]);
  const [query, setQuery] = useState("");
  const [listOpen, setListOpen] = useState(false);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [pinned, setPinned] = useState(true);
  const chatId = useRef<string>("");
  const input = useRef<HTMLTextAreaElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const pinnedRef = useRef(true);

  const providerName = (id: string) => names[id] ?? id;
  const card = cards?.find((c) => c.agent.name === agent) ?? null;

  const remember = (a: string, id: string | null) => localStorage.setItem(LAST, JSON.stringify({ agent: a, id }));
  const toBottom = () => {
    pinnedRef.current = true;
    setPinned(true);
    const later = typeof requestAnimationFrame === "function" ? requestAnimationFrame : (f: () => void) => setTimeout(f, 0);
    later(() => {
      const s = scroller.current;
      if (s) s.scrollTop = s.scrollHeight;
    });
  };

  const loadList = async (q: string = query) => {
    const r = await commands.conversationsList(null, q.trim() || null);
    if (r.status === "ok") setConvs(r.data);
  };
  const openConv = async (id: string, with_: string) => {
    const r = await commands.conversationOpen(id);
    if (r.status === "ok") {
      setAgent(with_);
      setConvId(id);
      setLines(fromSaved(r.data.lines));
      setSaveError(null);
      remember(with_, id);
      setListOpen(false);
      toBottom();
      input.current?.focus();
      return true;
    }
    setSaveError(r.error.message);
    return false;
  };
  const fresh = (with_: string = agent) => {
    setConvId(null);
    setLines([]);
    setSaveError(null);
    remember(with_, null);
    input.current?.focus();
  };

  // Agents and provider names, then where to start: an agent the Agents page asked for (its
  // newest conversation), a new chat (Ctrl+N), or the conversation open last.
  const reloadCards = async () => {
    const a = await commands.agentsList();
    if (a.status === "ok") setCards(a.data);
    return a.status === "ok" ? a.data : [];
  };
  useEffect(() => {
    (async () => {
      commands.providersCatalog().then((ps) => setNames(Object.fromEntries(ps.map((p) => [p.id, p.name]))));
      const [list, r] = await Promise.all([reloadCards(), commands.conversationsList(null, null)]);
      const all = r.status === "ok" ? r.data : [];
      setConvs(all);
      const has = (n: string | null | undefined) => !!n && list.some((c) => c.agent.name === n);
      const asked = sessionStorage.getItem(OPEN_AGENT);
      const wantNew = sessionStorage.getItem(NEW_CHAT);
      sessionStorage.removeItem(OPEN_AGENT);
      sessionStorage.removeItem(NEW_CHAT);
      let last: { agent?: string; id?: string | null } = {};
      try {
        last = JSON.parse(localStorage.getItem(LAST) ?? "{}") ?? {};
      } catch {
        last = {};
      }
      if (has(asked)) {
        const newest = all.find((c) => c.agent === asked);
        if (!(newest && (await openConv(newest.id, asked!)))) {
          setAgent(asked!);
          fresh(asked!);
        }
      } else if (wantNew) {
        const a = has(last.agent) ? last.agent! : list[0]?.agent.name ?? "";
        setAgent(a);
        fresh(a);
      } else if (has(last.agent)) {
        const entry = all.find((c) => c.id === last.id);
        if (!(entry && (await openConv(entry.id, entry.agent)))) setAgent(last.agent!);
      } else if (all.length > 0 && has(all[0].agent) && (await openConv(all[0].id, all[0].agent))) {
        // Nothing remembered (a new window profile): the newest conversation.
      } else if (list.length > 0) setAgent(list[0].agent.name);
    })();
    const stops = [events.ledgerChanged.listen(() => reloadCards()), events.configurationChanged.listen(() => reloadCards())];
    return () => stops.forEach((s) => s.then((u) => u()));
  }, []);

  // Search as the user types, a moment after the last key.
  useEffect(() => {
    const timer = setTimeout(() => loadList(query), 150);
    return () => clearTimeout(timer);
  }, [query]);

  // Ctrl/Cmd+N (from anywhere, through Home), "/" to the composer, Esc stops an answer.
  useEffect(() => {
    const onNew = () => fresh();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && busy) {
        e.preventDefault();
        commands.chatStop(chatId.current);
      } else if (e.key === "/" && !isTyping(e.target) && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        input.current?.focus();
      }
    };
    window.addEventListener("keyhold:new-chat", onNew);
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("keyhold:new-chat", onNew);
      window.removeEventListener("keydown", onKey);
    };
  }, [busy, agent]);

  // The newest line stays in view while the user has not scrolled up to read.
  useLayoutEffect(() => {
    const s = scroller.current;
    if (s && pinnedRef.current) s.scrollTop = s.scrollHeight;
  }, [lines]);
  const onScroll = () => {
    const s = scroller.current;
    if (!s) return;
    const now = s.scrollHeight - s.scrollTop - s.clientHeight < 40;
    pinnedRef.current = now;
    if (now !== pinned) setPinned(now);
  };

  useEffect(() => {
    if (!busy) input.current?.focus();
  }, [busy]);

  const history = (text: string, from: ChatLine[] = lines): Turn[] => [
    ...from.filter((l) => !l.error && l.text).map((l) => ({ role: l.role, text: l.text })),
    { role: "user", text },
  ];
  useEffect(() => {
    if (!showPreview || !draft.trim() || !agent) {
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
    const with_ = agent;
    chatId.current = `${Date.now()}-${Math.random()}`;
    const pending: ChatLine[] = [...before, { role: "user", text }, { role: "assistant", text: "" }];
    setLines(pending);
    toBottom();
    setBusy(true);
    const r = await commands.chatSend(with_, chatId.current, turns);
    setBusy(false);
    let finished: ChatLine[] = [];
    setLines((ls) => {
      const copy = ls.slice();
      const last = copy[copy.length - 1];
      copy[copy.length - 1] = r.status === "ok" ? { ...last, reply: r.data } : { ...last, error: r.error.message };
      finished = copy;
      return copy;
    });
    const saved = await commands.conversationSave(with_, convId, toSaved(finished.length ? finished : pending));
    if (saved.status === "ok") {
      setConvId(saved.data.id);
      remember(with_, saved.data.id);
      setSaveError(null);
      loadList();
    } else setSaveError(`This conversation was not kept: ${saved.error.message}`);
  };

  const send = async (e: Event) => {
    e.preventDefault();
    if (busy || !draft.trim() || !agent) return;
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

  const pickAgent = (name: string) => {
    if (name === agent) return;
    setAgent(name);
    // A conversation stays with the agent it began with: another agent starts a new one.
    fresh(name);
  };

  if (cards !== null && cards.length === 0) {
    return (
      <section class="card wide" id="chat">
        <h2>Chat</h2>
        <p class="empty" id="chat-no-agents">
          No agents yet. An agent is a model on one of your keys, with a daily budget and a fallback chain: create one on the
          Agents page, then chat with it here.
        </p>
        {onGetStarted && (
          <button id="chat-get-started" onClick={onGetStarted}>
            Show me the first steps
          </button>
        )}
      </section>
    );
  }

  return (
    <section class={`chat-layout ${listOpen ? "list-open" : ""}`} id="chat" aria-label={agent ? `Chat with ${agent}` : "Chat"}>
      <ConversationList
        convs={convs}
        current={convId}
        busy={busy}
        query={query}
        onQuery={setQuery}
        onOpen={(c) => openConv(c.id, c.agent)}
        onRenamed={() => loadList()}
        onRemoved={(id) => {
          if (id === convId) fresh();
          loadList();
        }}
        onClose={() => setListOpen(false)}
      />
      <div class="chat-main">
        <header class="chat-head">
          <button
            class="secondary chat-list-toggle"
            id="chat-list-toggle"
            aria-expanded={listOpen}
            aria-controls="conversations"
            onClick={() => setListOpen(!listOpen)}
          >
            Conversations
          </button>
          <label class="inline-label chat-agent-pick">
            <span class="sr-only">Agent</span>
            <select id="chat-agent" value={agent} onChange={(e) => pickAgent((e.target as HTMLSelectElement).value)} disabled={busy}>
              {(cards ?? []).map((c) => (
                <option key={c.agent.id} value={c.agent.name}>
                  {c.agent.name}
                </option>
              ))}
            </select>
          </label>
          {card && <AgentGlance card={card} />}
          <button class="secondary" id="chat-new" onClick={() => fresh()} disabled={busy} title="New chat (Ctrl+N)">
            New chat
          </button>
        </header>
        <div class="chat-scroll" ref={scroller} onScroll={onScroll}>
          {lines.length === 0 && agent && (
            <p class="chat-empty fine" id="chat-empty">
              A new chat with {agent}. It is kept sealed in the vault from the first answer.
            </p>
          )}
          <ol class="chat-lines" aria-live="polite">
            {lines.map((l, i) => {
              const streaming = l.role === "assistant" && busy && i === lines.length - 1;
              return (
                <li class={`chat-line ${l.role}`} key={i}>
                  <div class="chat-text">
                    {l.role === "assistant" ? <Markdown text={l.text || (streaming ? "…" : "")} /> : l.text}
                  </div>
                  {l.reply && <ReplyNotes reply={l.reply} providerName={providerName} />}
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
        </div>
        {!pinned && lines.length > 0 && (
          <button class="secondary chat-jump" id="chat-jump" onClick={toBottom}>
            ↓ Jump to latest
          </button>
        )}
        <div class="composer">
          {saveError && (
            <p class="error" role="alert">
              {saveError}
            </p>
          )}
          {showPreview && preview && (
            <div class="preview" id="chat-preview" aria-live="polite">
              <div class="fine">
                What a cloud step receives ({preview.policy} policy)
                {countsText(preview.counts) ? `: ${countsText(preview.counts)} replaced` : ": nothing to replace"}
                {preview.blocked ? " — the block policy will refuse to send this." : "."}
              </div>
              <div class="chat-text">
                <Redacted preview={preview} />
              </div>
            </div>
          )}
          <form class="inline" onSubmit={send}>
            <textarea
              id="chat-input"
              ref={input}
              rows={2}
              value={draft}
              aria-label={agent ? `Message to ${agent}` : "Message"}
              placeholder="Message (Enter to send, Shift+Enter for a new line)"
              onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e);
              }}
            />
            {busy ? (
              <button type="button" id="chat-stop" class="danger" onClick={() => commands.chatStop(chatId.current)} title="Stop (Esc)">
                Stop
              </button>
            ) : (
              <button type="submit" id="chat-send" disabled={!agent}>
                Send
              </button>
            )}
          </form>
          <label class="check">
            <input
              type="checkbox"
              id="chat-preview-toggle"
              checked={showPreview}
              onChange={(e) => setShowPreview((e.target as HTMLInputElement).checked)}
            />
            Show what the model receives
          </label>
        </div>
      </div>
    </section>
  );
}

/** The agent at a glance: its model, its chain, today's spend against its budget. */
function AgentGlance({ card }: { card: AgentCard }) {
  const look = budgetLook(card.budget_state, card.budget_percent);
  return (
    <div class="agent-glance" id="chat-agent-glance">
      <span class="provider" title="The agent's model">
        {card.agent.model}
      </span>
      {card.fallback_labels.length > 0 && (
        <span class="fine chain" title={`Falls back to: ${card.fallback_labels.join(" → ")}`}>
          then {card.fallback_labels.join(" → ")}
        </span>
      )}
      <span class={`spend ${card.budget_usd ? look.tone : ""}`} title={card.budget_usd ? look.words : "No daily budget"}>
        today {usd(card.spent_today_usd)}
        {card.budget_usd ? ` of ${usd(card.budget_usd)}` : ""}
      </span>
    </div>
  );
}

function ReplyNotes({ reply, providerName }: { reply: Reply; providerName: (id: string) => string }) {
  return (
    <>
      <div class="reply-meta" title={tokenClasses(reply)}>
        <span class={`badge ${reply.local ? "local" : "cloud"}`}>{reply.local ? "stayed on this machine" : "cloud"}</span>{" "}
        {replyWords(reply, providerName)}
        {reply.stopped && <span class="badge warn"> stopped</span>}
      </div>
      {countsText(reply.redacted) && (
        <div class="privacy-note" role="note">
          Replaced before sending: {countsText(reply.redacted)}. The answer shows your own values again.
        </div>
      )}
      {reply.unknown_placeholders > 0 && (
        <div class="notice" role="note">
          The answer holds {reply.unknown_placeholders} placeholder(s) Keyhold did not make; they are shown as written.
        </div>
      )}
      {reply.cloud_unreachable && (
        <div class="notice" id="offer-offline">
          The cloud looks unreachable; a local step answered.{" "}
          <button class="link" id="go-offline" onClick={() => commands.setOffline(true)}>
            Switch to offline mode
          </button>
        </div>
      )}
      {reply.fallback_note && (
        <div class="fallback-note" role="note">
          {reply.fallback_note}
        </div>
      )}
    </>
  );
}

/** Every conversation, newest first, grouped by day; search, rename in place, delete after a yes. */
function ConversationList({
  convs,
  current,
  busy,
  query,
  onQuery,
  onOpen,
  onRenamed,
  onRemoved,
  onClose,
}: {
  convs: ConversationEntry[];
  current: string | null;
  busy: boolean;
  query: string;
  onQuery: (q: string) => void;
  onOpen: (c: ConversationEntry) => void;
  onRenamed: () => void;
  onRemoved: (id: string) => void;
  /** Folds the list away again when it lies over the chat (narrow windows). */
  onClose: () => void;
}) {
  const [renaming, setRenaming] = useState<{ id: string; title: string } | null>(null);
  const [confirmRemove, setConfirmRemove] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const groups = useMemo(() => {
    const out: [string, ConversationEntry[]][] = [];
    for (const c of convs) {
      const label = dayLabel(c.updated_at);
      if (out.length && out[out.length - 1][0] === label) out[out.length - 1][1].push(c);
      else out.push([label, [c]]);
    }
    return out;
  }, [convs]);

  const saveName = async () => {
    if (!renaming) return;
    const r = await commands.conversationRename(renaming.id, renaming.title);
    if (r.status === "ok") {
      setRenaming(null);
      setError(null);
      onRenamed();
    } else setError(r.error.message);
  };

  return (
    <nav class="conversations" id="conversations" aria-label="Conversations">
      <button class="secondary chat-list-close" id="chat-list-close" onClick={onClose}>
        Close the list
      </button>
      <input
        type="search"
        id="conv-search"
        placeholder="Search conversations"
        aria-label="Search conversations"
        value={query}
        onInput={(e) => onQuery((e.target as HTMLInputElement).value)}
      />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {convs.length === 0 && (
        <p class="fine" id="conv-empty">
          {query.trim() ? `No conversation holds “${query.trim()}”.` : "No saved conversations yet."}
        </p>
      )}
      {groups.map(([label, items]) => (
        <div class="conv-day" key={label}>
          <h3 class="conv-day-label">{label}</h3>
          <ul>
            {items.map((c) => (
              <li key={c.id} class={c.id === current ? "on" : ""} data-conversation={c.id}>
                {renaming?.id === c.id ? (
                  <form
                    class="conv-rename"
                    onSubmit={(e) => {
                      e.preventDefault();
                      saveName();
                    }}
                  >
                    <input
                      class="conv-rename-input"
                      aria-label="New name"
                      value={renaming.title}
                      ref={(el) => el?.focus()}
                      onInput={(e) => setRenaming({ id: c.id, title: (e.target as HTMLInputElement).value })}
                      onKeyDown={(e) => {
                        if (e.key === "Escape") {
                          e.stopPropagation();
                          setRenaming(null);
                        }
                      }}
                    />
                  </form>
                ) : (
                  <button class="conv" onClick={() => onOpen(c)} disabled={busy} title={c.title} aria-current={c.id === current ? "true" : undefined}>
                    <span class="conv-title">{c.title}</span>
                    <span class="fine conv-sub">
                      <span class="conv-agent">{c.agent}</span> ·{" "}
                      {new Date(c.updated_at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}
                    </span>
                    {c.snippet && <span class="fine conv-snippet">{c.snippet}</span>}
                  </button>
                )}
                {confirmRemove === c.id ? (
                  <span class="confirm">
                    <button
                      class="danger conv-remove-confirm"
                      onClick={async () => {
                        const r = await commands.conversationRemove(c.id);
                        setConfirmRemove(null);
                        if (r.status === "ok") onRemoved(c.id);
                        else setError(r.error.message);
                      }}
                    >
                      Delete
                    </button>
                    <button class="secondary" onClick={() => setConfirmRemove(null)}>
                      Keep
                    </button>
                  </span>
                ) : (
                  renaming?.id !== c.id && (
                    <span class="conv-actions">
                      <button
                        class="link conv-rename-button"
                        aria-label={`Rename the conversation ${c.title}`}
                        title="Rename"
                        onClick={() => setRenaming({ id: c.id, title: c.title })}
                      >
                        ✎
                      </button>
                      <button
                        class="link conv-remove"
                        aria-label={`Delete the conversation ${c.title}`}
                        title="Delete"
                        onClick={() => setConfirmRemove(c.id)}
                      >
                        ×
                      </button>
                    </span>
                  )
                )}
              </li>
            ))}
          </ul>
        </div>
      ))}
    </nav>
  );
}
