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

  it("asks what a budget does with documents the provider fetches only when there is a budget, and saves it", async () => {
    mocked.agentsSave.mockResolvedValue({ status: "ok", data: { agent, warnings: [] } });
    render(<Agents onChat={() => {}} />);
    await waitFor(() => expect(document.getElementById("new-agent")).toBeTruthy());
    fireEvent.click(document.getElementById("new-agent")!);
    fireEvent.input(document.getElementById("agent-name")!, { target: { value: "Reader" } });
    fireEvent.input(document.getElementById("agent-model")!, { target: { value: "gpt-4o-mini" } });
    expect(document.getElementById("agent-fetched")).toBeNull();
    fireEvent.input(document.getElementById("agent-budget")!, { target: { value: "2" } });
    const choice = document.getElementById("agent-fetched") as HTMLSelectElement;
    expect(choice.value).toBe("reserve");
    expect(choice.closest("label")!.textContent).toContain("context window");
    fireEvent.change(choice, { target: { value: "refuse" } });
    fireEvent.submit(document.getElementById("agent-form")!);
    await waitFor(() => expect(mocked.agentsSave).toHaveBeenCalled());
    expect(mocked.agentsSave.mock.calls[0][1]).toMatchObject({ budget_usd: "2", fetched: "refuse" });
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

  const key = (id: string, label: string, models: string[], health = "working", provider = "openai") => ({
    id, provider, label, base_url: null, masked: "sk-…", active: true, is_default: false, created_at: "",
    rotated_at: null, models, models_fetched_at: null, last_test: null, health, last_tested_at: null,
    allow_insecure_http: false, marked_local: false, local: false,
  });

  it("opens Edit in view with the cursor in the name", async () => {
    render(<Agents onChat={() => {}} />);
    await waitFor(() => expect(document.querySelector(".edit")).toBeTruthy());
    const scrolled = vi.fn();
    HTMLFormElement.prototype.scrollIntoView = scrolled;
    fireEvent.click(document.querySelector(".edit")!);
    await waitFor(() => expect(document.activeElement?.id).toBe("agent-name"));
    expect(scrolled).toHaveBeenCalled();
    expect(document.querySelector("#agent-form h3")!.textContent).toBe("Edit Writer");
  });

  it("chooses the main model from the key's tested models, or types one that is not listed", async () => {
    mocked.keysList.mockResolvedValue({ status: "ok", data: [key("k_1", "oa", ["gpt-4o-mini", "gpt-4o"]), key("k_2", "an", ["claude-haiku-4-5"], "working", "anthropic")] });
    mocked.agentsSave.mockResolvedValue({ status: "ok", data: { agent, warnings: [] } });
    render(<Agents onChat={() => {}} />);
    await waitFor(() => expect(document.getElementById("new-agent")).toBeTruthy());
    await waitFor(() => expect(mocked.keysList).toHaveBeenCalled());
    fireEvent.click(document.getElementById("new-agent")!);
    const choice = () => document.getElementById("agent-model-choice") as HTMLSelectElement;
    // With the default key, every key's models, grouped by key.
    expect(Array.from(choice().querySelectorAll("optgroup")).map((g) => g.label)).toEqual(["oa (openai)", "an (anthropic)"]);
    expect(document.getElementById("agent-model")).toBeNull();
    fireEvent.change(document.getElementById("agent-key")!, { target: { value: "k_1" } });
    expect(Array.from(choice().options).map((o) => o.value)).toEqual(["", "gpt-4o-mini", "gpt-4o", "__typed"]);
    fireEvent.change(choice(), { target: { value: "gpt-4o" } });
    // A model the last test did not list is typed.
    fireEvent.change(choice(), { target: { value: "__typed" } });
    fireEvent.input(document.getElementById("agent-model")!, { target: { value: "gpt-5-preview" } });
    expect(choice().value).toBe("__typed");
    fireEvent.input(document.getElementById("agent-name")!, { target: { value: "New" } });
    fireEvent.submit(document.getElementById("agent-form")!);
    await waitFor(() => expect(mocked.agentsSave).toHaveBeenCalled());
    expect(mocked.agentsSave.mock.calls[0][1]).toMatchObject({ model: "gpt-5-preview", key: "k_1" });
  });

  it("warns when the chosen key or a step's key failed its test or its last call", async () => {
    mocked.keysList.mockResolvedValue({ status: "ok", data: [key("k_1", "oa", ["gpt-4o-mini"]), key("k_2", "bad", [], "rejected"), key("k_3", "used", ["gpt-4o"])] });
    // The Overview counts the last call: k_3 tested fine but was refused since.
    mocked.overview.mockResolvedValue({ status: "ok", data: { agents: [], keys: [{ id: "k_3", health: "refused_in_use" }] } });
    render(<Agents onChat={() => {}} />);
    await waitFor(() => expect(document.getElementById("new-agent")).toBeTruthy());
    await waitFor(() => expect(mocked.overview).toHaveBeenCalled());
    fireEvent.click(document.getElementById("new-agent")!);
    const keySelect = document.getElementById("agent-key") as HTMLSelectElement;
    expect(Array.from(keySelect.options).map((o) => o.textContent)).toEqual([
      "The default key of the model's provider",
      "oa (openai)",
      "bad (openai) — rejected",
      "used (openai) — refused on its last call",
    ]);
    fireEvent.change(keySelect, { target: { value: "k_1" } });
    expect(document.querySelector(".key-warning")).toBeNull();
    fireEvent.change(keySelect, { target: { value: "k_2" } });
    expect(document.querySelector(".key-warning")!.textContent).toContain("The provider refused the key “bad” when it was last tested.");
    fireEvent.click(document.getElementById("add-step")!);
    fireEvent.change(document.querySelector(".step .step-key")!, { target: { value: "k_3" } });
    expect(document.querySelector(".step-warning")!.textContent).toContain("refused the key “used” on its last call");
  });
});
