// The Chat page against a mock of the generated bindings (named as such).
import { describe, it, expect, vi, beforeEach, afterEach } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/preact";

const listeners: Record<string, (e: { payload: unknown }) => void> = {};
vi.mock("../bindings", () => ({
  commands: {
    agentsList: vi.fn(),
    providersCatalog: vi.fn(),
    chatSend: vi.fn(),
    chatStop: vi.fn(),
    privacyPreview: vi.fn(),
    conversationsList: vi.fn(),
    conversationOpen: vi.fn(),
    conversationSave: vi.fn(),
    conversationRemove: vi.fn(),
    conversationRename: vi.fn(),
  },
  events: {
    ledgerChanged: { listen: vi.fn(() => Promise.resolve(() => {})) },
    configurationChanged: { listen: vi.fn(() => Promise.resolve(() => {})) },
    chatDelta: {
      listen: vi.fn((cb: (e: { payload: unknown }) => void) => {
        listeners.chatDelta = cb;
        return Promise.resolve(() => {});
      }),
    },
  },
}));

import { commands } from "../bindings";
import { Chat, OPEN_AGENT, dayLabel, replyWords, tokenClasses } from "./chat";

afterEach(cleanup);
const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;
const agentOf = (id: string, name: string, model: string) => ({ id, name, model, key_id: null, system_prompt: null, temperature: null, max_tokens: 1024, fallback: [], budget: "1", when_over: "local", created_at: "" });
const writer = { agent: agentOf("a_1", "Writer", "gpt-4o-mini"), key_label: null, fallback_labels: ["local: llama3.2:1b"], spent_today_usd: "0.25", budget_usd: "1", budget_percent: 25, budget_state: "within" };
const editor = { agent: agentOf("a_2", "Editor", "claude-haiku-4-5"), key_label: null, fallback_labels: [], spent_today_usd: "0", budget_usd: null, budget_percent: null, budget_state: "no_budget" };
const reply = (over: object = {}) => ({
  step: 0, provider: "openai", model: "gpt-4o-mini", key_label: "Work", tokens: { input: 1234, output: 2, cache_read: 3, cache_write: 0 },
  cost_usd: "0.0012", estimated: false, local: false, latency_ms: 5, ttft_ms: 2, earlier: [], cloud_unreachable: false, redacted: {},
  unknown_placeholders: 0, stopped: false, fallback_note: null, ...over,
});
const today = new Date().toISOString();
const entry = (id: string, title: string, agent: string, updated_at = today, snippet: string | null = null) => ({ id, title, renamed: false, agent_id: agent === "Writer" ? "a_1" : "a_2", agent, updated_at, lines: 2, snippet });

describe("chat", () => {
  beforeEach(() => {
    vi.clearAllMocks();
    sessionStorage.clear();
    localStorage.clear();
    mocked.agentsList.mockResolvedValue({ status: "ok", data: [writer, editor] });
    mocked.providersCatalog.mockResolvedValue([{ id: "openai", name: "OpenAI" }, { id: "ollama", name: "Ollama" }, { id: "anthropic", name: "Anthropic" }]);
    mocked.conversationsList.mockResolvedValue({ status: "ok", data: [] });
    mocked.conversationSave.mockResolvedValue({ status: "ok", data: { id: "c_1", title: "t", renamed: false, agent_id: "a_1", updated_at: today, lines: 2, snippet: null } });
  });

  it("says what an answer cost and who gave it in plain words, the token classes on hover", () => {
    const names = (id: string) => ({ openai: "OpenAI", anthropic: "Anthropic" })[id] ?? id;
    expect(replyWords(reply() as never, names)).toBe("$0.0012 · OpenAI gpt-4o-mini · 3 cached tokens");
    expect(replyWords(reply({ tokens: { input: 1, output: 1, cache_read: 0, cache_write: 0 }, cost_usd: null }) as never, names)).toBe(
      "cost unknown (no price for this model) · OpenAI gpt-4o-mini",
    );
    expect(replyWords(reply({ estimated: true, tokens: { input: 1, output: 1, cache_read: 1, cache_write: 0 } }) as never, names)).toBe(
      "$0.0012 (estimated) · OpenAI gpt-4o-mini · 1 cached token",
    );
    expect(tokenClasses(reply() as never)).toBe("input 1,234 · output 2 · cache read 3 · cache write 0 · key Work");
  });

  it("groups conversations by the user's day", () => {
    const now = new Date(2026, 11, 4, 10, 0);
    expect(dayLabel(new Date(2026, 11, 4, 0, 5).toISOString(), now)).toBe("Today");
    expect(dayLabel(new Date(2026, 11, 3, 23, 55).toISOString(), now)).toBe("Yesterday");
    expect(dayLabel(new Date(2026, 10, 2, 12).toISOString(), now)).not.toMatch(/Today|Yesterday/);
  });

  it("streams an answer in, keeps it, and shows the agent's model, chain and budget", async () => {
    let finish: (v: unknown) => void = () => {};
    mocked.chatSend.mockReturnValue(new Promise((r) => (finish = r)));
    render(<Chat />);
    await waitFor(() => expect(document.getElementById("chat-agent-glance")?.textContent).toContain("gpt-4o-mini"));
    expect(document.getElementById("chat-agent-glance")!.textContent).toContain("then local: llama3.2:1b");
    expect(document.getElementById("chat-agent-glance")!.textContent).toContain("today $0.25 of $1.00");
    expect(document.activeElement?.id).toBe("chat-input");
    fireEvent.input(document.getElementById("chat-input")!, { target: { value: "hello" } });
    fireEvent.keyDown(document.getElementById("chat-input")!, { key: "Enter", shiftKey: true });
    expect(mocked.chatSend).not.toHaveBeenCalled();
    fireEvent.keyDown(document.getElementById("chat-input")!, { key: "Enter" });
    await waitFor(() => expect(mocked.chatSend).toHaveBeenCalled());
    expect(mocked.chatSend.mock.calls[0][0]).toBe("Writer");
    const chatId = mocked.chatSend.mock.calls[0][1];
    listeners.chatDelta({ payload: { chat_id: chatId, text: "Hi " } });
    listeners.chatDelta({ payload: { chat_id: "another chat", text: "ignored" } });
    listeners.chatDelta({ payload: { chat_id: chatId, text: "there" } });
    await waitFor(() => expect(document.querySelector(".chat-line.assistant .chat-text")!.textContent).toBe("Hi there"));
    // Esc stops the answer while it streams.
    fireEvent.keyDown(window, { key: "Escape" });
    expect(mocked.chatStop).toHaveBeenCalledWith(chatId);
    finish({
      status: "ok",
      data: reply({ provider: "ollama", model: "llama3.2:1b", local: true, cost_usd: "0", tokens: { input: 3, output: 2, cache_read: 0, cache_write: 0 },
        fallback_note: "OpenAI gpt-4o-mini could not be reached, so Ollama llama3.2:1b (on this machine) answered." }),
    });
    await waitFor(() => expect(document.querySelector(".reply-meta")!.textContent).toContain("stayed on this machine"));
    expect(document.querySelector(".reply-meta")!.textContent).toContain("$0 · Ollama llama3.2:1b");
    expect(document.querySelector(".reply-meta")!.getAttribute("title")).toContain("input 3 · output 2");
    expect(document.querySelector(".fallback-note")!.textContent).toContain("so Ollama llama3.2:1b (on this machine) answered.");
    await waitFor(() => expect(mocked.conversationSave).toHaveBeenCalled());
    const [agentName, id, lines] = mocked.conversationSave.mock.calls[0];
    expect([agentName, id]).toEqual(["Writer", null]);
    expect(lines.map((l: { role: string }) => l.role)).toEqual(["user", "assistant"]);
    // Kept as the conversation to open after a restart.
    expect(JSON.parse(localStorage.getItem("keyhold.chat.last")!)).toEqual({ agent: "Writer", id: "c_1" });
  });

  it("opens the last conversation again after a restart", async () => {
    localStorage.setItem("keyhold.chat.last", JSON.stringify({ agent: "Editor", id: "c_9" }));
    mocked.conversationsList.mockResolvedValue({ status: "ok", data: [entry("c_1", "Newest", "Writer"), entry("c_9", "Older", "Editor")] });
    mocked.conversationOpen.mockResolvedValue({
      status: "ok",
      data: { info: entry("c_9", "Older", "Editor"), lines: [{ role: "user", text: "Hello", reply_json: null, error: null }, { role: "assistant", text: "Use `ls`", reply_json: null, error: null }] },
    });
    render(<Chat />);
    await waitFor(() => expect(document.querySelector(".chat-line.assistant code")?.textContent).toBe("ls"));
    expect(mocked.conversationOpen).toHaveBeenCalledWith("c_9");
    expect((document.getElementById("chat-agent") as HTMLSelectElement).value).toBe("Editor");
    expect(document.querySelector("li.on .conv-title")!.textContent).toBe("Older");
  });

  it("opens the newest conversation of the agent the Agents page asked for", async () => {
    sessionStorage.setItem(OPEN_AGENT, "Editor");
    mocked.conversationsList.mockResolvedValue({ status: "ok", data: [entry("c_1", "Newest", "Writer"), entry("c_2", "Edits", "Editor")] });
    mocked.conversationOpen.mockResolvedValue({ status: "ok", data: { info: entry("c_2", "Edits", "Editor"), lines: [] } });
    render(<Chat />);
    await waitFor(() => expect(mocked.conversationOpen).toHaveBeenCalledWith("c_2"));
    expect(sessionStorage.getItem(OPEN_AGENT)).toBeNull();
  });

  it("lists every agent's conversations by day, searches them, renames and deletes after asking", async () => {
    const lastWeek = new Date(Date.now() - 9 * 86_400_000).toISOString();
    mocked.conversationsList.mockResolvedValue({ status: "ok", data: [entry("c_1", "A very long title about the quarterly report", "Writer"), entry("c_2", "Edits", "Editor", lastWeek)] });
    render(<Chat />);
    await waitFor(() => expect(document.querySelectorAll(".conv").length).toBe(2));
    const days = Array.from(document.querySelectorAll(".conv-day-label")).map((h) => h.textContent);
    expect(days[0]).toBe("Today");
    expect(days).toHaveLength(2);
    expect(document.querySelector('[data-conversation="c_2"] .conv-agent')!.textContent).toBe("Editor");
    expect(document.querySelector('[data-conversation="c_1"] .conv')!.getAttribute("title")).toBe("A very long title about the quarterly report");

    mocked.conversationsList.mockResolvedValue({ status: "ok", data: [entry("c_2", "Edits", "Editor", lastWeek, "…the invoice was late…")] });
    fireEvent.input(document.getElementById("conv-search")!, { target: { value: "invoice" } });
    await waitFor(() => expect(mocked.conversationsList).toHaveBeenLastCalledWith(null, "invoice"));
    await waitFor(() => expect(document.querySelector(".conv-snippet")!.textContent).toBe("…the invoice was late…"));

    mocked.conversationRename.mockResolvedValue({ status: "ok", data: entry("c_2", "Invoices", "Editor") });
    fireEvent.click(screen.getByLabelText("Rename the conversation Edits"));
    const field = document.querySelector(".conv-rename-input") as HTMLInputElement;
    fireEvent.input(field, { target: { value: "Invoices" } });
    fireEvent.submit(field.form!);
    await waitFor(() => expect(mocked.conversationRename).toHaveBeenCalledWith("c_2", "Invoices"));

    mocked.conversationRemove.mockResolvedValue({ status: "ok", data: null });
    fireEvent.click(screen.getByLabelText("Delete the conversation Edits"));
    expect(mocked.conversationRemove).not.toHaveBeenCalled();
    fireEvent.click(screen.getByText("Delete"));
    await waitFor(() => expect(mocked.conversationRemove).toHaveBeenCalledWith("c_2"));
  });

  it("starts a new chat when another agent is picked, and on Ctrl+N", async () => {
    mocked.conversationsList.mockResolvedValue({ status: "ok", data: [entry("c_1", "Hello", "Writer")] });
    mocked.conversationOpen.mockResolvedValue({ status: "ok", data: { info: entry("c_1", "Hello", "Writer"), lines: [{ role: "user", text: "Hello", reply_json: null, error: null }] } });
    localStorage.setItem("keyhold.chat.last", JSON.stringify({ agent: "Writer", id: "c_1" }));
    render(<Chat />);
    await waitFor(() => expect(document.querySelectorAll(".chat-line").length).toBe(1));
    fireEvent.change(document.getElementById("chat-agent")!, { target: { value: "Editor" } });
    await waitFor(() => expect(document.querySelectorAll(".chat-line").length).toBe(0));
    expect(document.getElementById("chat-empty")!.textContent).toContain("A new chat with Editor");
    fireEvent.click(document.querySelector('[data-conversation="c_1"] .conv')!);
    await waitFor(() => expect(document.querySelectorAll(".chat-line").length).toBe(1));
    expect((document.getElementById("chat-agent") as HTMLSelectElement).value).toBe("Writer");
    window.dispatchEvent(new Event("keyhold:new-chat"));
    await waitFor(() => expect(document.querySelectorAll(".chat-line").length).toBe(0));
  });

  it("previews what the model receives and says what was replaced", async () => {
    mocked.privacyPreview.mockResolvedValue({
      status: "ok",
      data: {
        policy: "pii",
        text: "Mail [EMAIL_1] with [SECRET_1]",
        spans: [
          { kind: "email", placeholder: "[EMAIL_1]", start: 5, end: 14 },
          { kind: "secret", placeholder: "[SECRET_1]", start: 20, end: 30 },
        ],
        counts: { secret: 1, email: 1 },
        blocked: false,
      },
    });
    mocked.chatSend.mockResolvedValue({ status: "ok", data: reply({ redacted: { secret: 1, email: 1 } }) });
    render(<Chat />);
    await waitFor(() => expect((document.getElementById("chat-agent") as HTMLSelectElement).value).toBe("Writer"));
    fireEvent.click(document.getElementById("chat-preview-toggle")!);
    fireEvent.input(document.getElementById("chat-input")!, { target: { value: "Mail anna@example.org with sk-ant-xyz" } });
    await waitFor(() => expect(document.querySelectorAll("#chat-preview mark.placeholder").length).toBe(2));
    expect(document.querySelector("#chat-preview .chat-text")!.textContent).toBe("Mail [EMAIL_1] with [SECRET_1]");
    expect(document.querySelector("#chat-preview")!.textContent).toContain("1 secret, 1 e-mail address replaced");
    fireEvent.click(screen.getByText("Send"));
    await waitFor(() => expect(document.querySelector(".privacy-note")!.textContent).toContain("Replaced before sending: 1 secret, 1 e-mail address"));
  });

  it("says where to start when there is no agent yet", async () => {
    mocked.agentsList.mockResolvedValue({ status: "ok", data: [] });
    render(<Chat />);
    await waitFor(() => expect(document.getElementById("chat-no-agents")!.textContent).toContain("create one on the Agents page"));
  });
});
