// The Agents page against a mock of the generated bindings (named as such).
import { describe, it, expect, vi, beforeEach, afterEach } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/preact";

const listeners: Record<string, (e: { payload: unknown }) => void> = {};
vi.mock("../bindings", () => ({
  commands: { agentsList: vi.fn(), keysList: vi.fn(), agentsSave: vi.fn(), chatSend: vi.fn(), agentsDuplicate: vi.fn(), agentsRemove: vi.fn(), privacyPreview: vi.fn(), conversationsList: vi.fn(), conversationOpen: vi.fn(), conversationSave: vi.fn(), conversationRemove: vi.fn(), chatStop: vi.fn(), overview: vi.fn() },
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
import { Agents } from "./agents";

afterEach(cleanup);
const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;
const agent = { id: "a_1", name: "Writer", model: "gpt-4o-mini", key_id: null, system_prompt: null, temperature: null, max_tokens: 1024, fallback: [], budget: "1", when_over: "local", created_at: "" };
const card = { agent, key_label: null, fallback_labels: ["local: llama3.2:1b"], spent_today_usd: "0.25", budget_usd: "1", budget_percent: 25, budget_state: "within" };

describe("agents", () => {
  beforeEach(() => {
    vi.clearAllMocks();
    sessionStorage.clear();
    mocked.overview.mockResolvedValue({ status: "ok", data: { agents: [{ id: "a_1", failing_keys: ["Work"] }], keys: [] } });
    mocked.conversationsList.mockResolvedValue({ status: "ok", data: [] });
    mocked.conversationSave.mockResolvedValue({ status: "ok", data: { id: "c_1", title: "t", updated_at: "", lines: 2 } });
    mocked.agentsList.mockResolvedValue({ status: "ok", data: [card] });
    mocked.keysList.mockResolvedValue({ status: "ok", data: [] });
  });

  it("asks before deleting an agent", async () => {
    mocked.agentsRemove.mockResolvedValue({ status: "ok", data: agent });
    render(<Agents />);
    await waitFor(() => expect(screen.getByText("Writer")).toBeTruthy());
    // A key its chain uses was refused on its last call: the card says so.
    await waitFor(() => expect(document.querySelector(".key-failing")!.textContent).toContain("Key failing: Work"));
    fireEvent.click(screen.getByText("Delete"));
    expect(mocked.agentsRemove).not.toHaveBeenCalled();
    expect(document.querySelector(".confirm")!.textContent).toContain("Its proxy tokens stop working at once");
    fireEvent.click(screen.getByText("Delete agent"));
    await waitFor(() => expect(mocked.agentsRemove).toHaveBeenCalledWith("a_1"));
  });

  it("shows today's spend against the budget and the chain", async () => {
    render(<Agents />);
    await waitFor(() => expect(screen.getByText("Writer")).toBeTruthy());
    expect(document.querySelector(".spend")!.textContent).toContain("Today: $0.25 of $1.00");
    expect(document.querySelector(".spend")!.textContent).toContain("25 % of the budget");
    expect(screen.getByText("Falls back to: local: llama3.2:1b")).toBeTruthy();
  });

  it("streams an answer in and shows who answered and what it cost", async () => {
    let finish: (v: unknown) => void = () => {};
    mocked.chatSend.mockReturnValue(new Promise((r) => (finish = r)));
    render(<Agents />);
    await waitFor(() => expect(document.querySelector(".chat-open")).toBeTruthy());
    fireEvent.click(document.querySelector(".chat-open")!);
    expect(document.activeElement?.id).toBe("chat-input");
    fireEvent.input(document.getElementById("chat-input")!, { target: { value: "hello" } });
    // Shift+Enter is a new line; Enter sends.
    fireEvent.keyDown(document.getElementById("chat-input")!, { key: "Enter", shiftKey: true });
    expect(mocked.chatSend).not.toHaveBeenCalled();
    fireEvent.keyDown(document.getElementById("chat-input")!, { key: "Enter" });
    await waitFor(() => expect(mocked.chatSend).toHaveBeenCalled());
    const chatId = mocked.chatSend.mock.calls[0][1];
    listeners.chatDelta({ payload: { chat_id: chatId, text: "Hi " } });
    listeners.chatDelta({ payload: { chat_id: "another chat", text: "ignored" } });
    listeners.chatDelta({ payload: { chat_id: chatId, text: "there" } });
    await waitFor(() => expect(document.querySelector(".chat-line.assistant .chat-text")!.textContent).toBe("Hi there"));
    finish({ status: "ok", data: { step: 1, provider: "ollama", model: "llama3.2:1b", key_label: "local", tokens: { input: 3, output: 2, cache_read: 0, cache_write: 0 }, cost_usd: "0", estimated: false, local: true, latency_ms: 5, ttft_ms: 1,
      redacted: {}, unknown_placeholders: 0,
      earlier: [{ step: 0, provider: "openai", model: "gpt-4o-mini", outcome: "connect", detail: "refused" }],
      // The note is the core's (router::fallback_note): the window shows it as given.
      fallback_note: "OpenAI gpt-4o-mini could not be reached, so Ollama llama3.2:1b (on this machine) answered." } });
    await waitFor(() => expect(document.querySelector(".reply-meta")!.textContent).toContain("stayed on this machine"));
    expect(document.querySelector(".reply-meta")!.textContent).toContain("ollama · llama3.2:1b · in 3 · out 2 · cache read 0 · cache write 0 · $0");
    expect(document.querySelector(".fallback-note")!.textContent).toBe("OpenAI gpt-4o-mini could not be reached, so Ollama llama3.2:1b (on this machine) answered.");
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
    mocked.chatSend.mockResolvedValue({ status: "ok", data: { step: 0, provider: "openai", model: "gpt-4o-mini", key_label: "oa", tokens: { input: 3, output: 2, cache_read: 0, cache_write: 0 }, cost_usd: "0.000001", estimated: false, local: false, latency_ms: 5, ttft_ms: 1, earlier: [], cloud_unreachable: false, redacted: { secret: 1, email: 1 }, unknown_placeholders: 0 } });
    render(<Agents />);
    await waitFor(() => expect(document.querySelector(".chat-open")).toBeTruthy());
    fireEvent.click(document.querySelector(".chat-open")!);
    fireEvent.click(document.getElementById("chat-preview-toggle")!);
    fireEvent.input(document.getElementById("chat-input")!, { target: { value: "Mail anna@example.org with sk-ant-xyz" } });
    await waitFor(() => expect(document.querySelectorAll("#chat-preview mark.placeholder").length).toBe(2));
    expect(document.querySelector("#chat-preview .chat-text")!.textContent).toBe("Mail [EMAIL_1] with [SECRET_1]");
    expect(document.querySelector("#chat-preview")!.textContent).toContain("1 secret, 1 e-mail address replaced");
    fireEvent.click(screen.getByText("Send"));
    await waitFor(() => expect(document.querySelector(".privacy-note")!.textContent).toContain("Replaced before sending: 1 secret, 1 e-mail address"));
  });

  it("keeps the conversation, and opens the newest one again for the agent", async () => {
    mocked.chatSend.mockResolvedValue({
      status: "ok",
      data: { step: 0, provider: "openai", model: "gpt-4o-mini", key_label: "Work", tokens: { input: 3, output: 2, cache_read: 0, cache_write: 0 }, cost_usd: "0.0001", estimated: false, local: false, latency_ms: 5, ttft_ms: 2, earlier: [], cloud_unreachable: false, redacted: {}, unknown_placeholders: 0, stopped: false },
    });
    render(<Agents />);
    await waitFor(() => expect(document.querySelector(".chat-open")).toBeTruthy());
    fireEvent.click(document.querySelector(".chat-open")!);
    await waitFor(() => expect(document.getElementById("chat-input")).toBeTruthy());
    fireEvent.input(document.getElementById("chat-input")!, { target: { value: "Hello **there**" } });
    fireEvent.keyDown(document.getElementById("chat-input")!, { key: "Enter" });
    await waitFor(() => expect(mocked.conversationSave).toHaveBeenCalled());
    const [agentName, id, lines] = mocked.conversationSave.mock.calls[0];
    expect(agentName).toBe("Writer");
    expect(id).toBeNull();
    expect(lines.map((l: { role: string }) => l.role)).toEqual(["user", "assistant"]);
    expect(JSON.parse(lines[1].reply_json).model).toBe("gpt-4o-mini");
    cleanup();
    // Back later: the newest conversation opens, its answer rendered as markdown.
    mocked.conversationsList.mockResolvedValue({ status: "ok", data: [{ id: "c_1", title: "Hello", updated_at: "2026-11-30T08:00:00Z", lines: 2 }] });
    mocked.conversationOpen.mockResolvedValue({
      status: "ok",
      data: { info: { id: "c_1", title: "Hello", updated_at: "", lines: 2 }, lines: [{ role: "user", text: "Hello", reply_json: null, error: null }, { role: "assistant", text: "Use `ls`", reply_json: null, error: null }] },
    });
    render(<Agents />);
    await waitFor(() => expect(document.querySelector(".chat-line.assistant code")?.textContent).toBe("ls"));
    expect(mocked.conversationOpen).toHaveBeenCalledWith("c_1");
  });

  it("reorders fallback steps before saving", async () => {
    mocked.agentsSave.mockResolvedValue({ status: "ok", data: { agent, warnings: [] } });
    render(<Agents />);
    await waitFor(() => expect(document.getElementById("new-agent")).toBeTruthy());
    fireEvent.click(document.getElementById("new-agent")!);
    fireEvent.input(document.getElementById("agent-name")!, { target: { value: "Chain" } });
    fireEvent.input(document.getElementById("agent-model")!, { target: { value: "gpt-4o-mini" } });
    fireEvent.click(document.getElementById("add-step")!);
    fireEvent.click(document.getElementById("add-step")!);
    const keysOf = () => Array.from(document.querySelectorAll<HTMLSelectElement>(".step .step-key"));
    const modelsOf = () => Array.from(document.querySelectorAll<HTMLInputElement>(".step .step-model"));
    fireEvent.change(keysOf()[0], { target: { value: "" } });
    fireEvent.input(modelsOf()[0], { target: { value: "first" } });
    fireEvent.input(modelsOf()[1], { target: { value: "second" } });
    fireEvent.click(document.querySelectorAll(".step .step-up")[1]);
    expect(modelsOf().map((m) => m.value)).toEqual(["second", "first"]);
    expect((document.querySelectorAll(".step .step-up")[0] as HTMLButtonElement).disabled).toBe(true);
  });

  it("offers what tool calls get back only when personal data is hidden, and saves the choice", async () => {
    mocked.agentsSave.mockResolvedValue({ status: "ok", data: { agent, warnings: [] } });
    render(<Agents />);
    await waitFor(() => expect(document.getElementById("new-agent")).toBeTruthy());
    fireEvent.click(document.getElementById("new-agent")!);
    fireEvent.input(document.getElementById("agent-name")!, { target: { value: "Mailer" } });
    fireEvent.input(document.getElementById("agent-model")!, { target: { value: "gpt-4o-mini" } });
    // With secrets only, nothing else is replaced: there is nothing to choose.
    expect(document.getElementById("agent-tool-values")).toBeNull();
    fireEvent.change(document.getElementById("agent-privacy")!, { target: { value: "pii" } });
    const choice = document.getElementById("agent-tool-values") as HTMLSelectElement;
    expect(choice.value).toBe("restore");
    expect(choice.closest("label")!.textContent).toContain('A secret always stays "[SECRET_1]" there');
    fireEvent.change(choice, { target: { value: "placeholders" } });
    fireEvent.submit(document.getElementById("agent-form")!);
    await waitFor(() => expect(mocked.agentsSave).toHaveBeenCalled());
    expect(mocked.agentsSave.mock.calls[0][1]).toMatchObject({ privacy: "pii", tool_values: "placeholders" });
  });
});
