// The Agents page against a mock of the generated bindings (named as such).
import { describe, it, expect, vi, beforeEach, afterEach } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/preact";

vi.mock("../bindings", () => ({
  commands: { agentsList: vi.fn(), keysList: vi.fn(), agentsSave: vi.fn(), agentsDuplicate: vi.fn(), agentsRemove: vi.fn(), overview: vi.fn() },
  events: {
    ledgerChanged: { listen: vi.fn(() => Promise.resolve(() => {})) },
    configurationChanged: { listen: vi.fn(() => Promise.resolve(() => {})) },
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
    mocked.agentsList.mockResolvedValue({ status: "ok", data: [card] });
    mocked.keysList.mockResolvedValue({ status: "ok", data: [] });
  });

  it("asks before deleting an agent", async () => {
    mocked.agentsRemove.mockResolvedValue({ status: "ok", data: agent });
    render(<Agents onChat={() => {}} />);
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
    render(<Agents onChat={() => {}} />);
    await waitFor(() => expect(screen.getByText("Writer")).toBeTruthy());
    expect(document.querySelector(".spend")!.textContent).toContain("Today: $0.25 of $1.00");
    expect(document.querySelector(".spend")!.textContent).toContain("25 % of the budget");
    expect(screen.getByText("Falls back to: local: llama3.2:1b")).toBeTruthy();
  });

  it("opens the Chat page with the agent from its card", async () => {
    const onChat = vi.fn();
    render(<Agents onChat={onChat} />);
    await waitFor(() => expect(document.querySelector(".chat-open")).toBeTruthy());
    fireEvent.click(document.querySelector(".chat-open")!);
    expect(onChat).toHaveBeenCalledWith("Writer");
  });

  it("reorders fallback steps before saving", async () => {
    mocked.agentsSave.mockResolvedValue({ status: "ok", data: { agent, warnings: [] } });
    render(<Agents onChat={() => {}} />);
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
    render(<Agents onChat={() => {}} />);
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
