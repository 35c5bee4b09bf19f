// The providers page against a mock of the generated bindings (named as such): it shows what the
// core answers and sends what the user typed, nothing more.
import { describe, it, expect, vi, beforeEach, afterEach } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/preact";

vi.mock("../bindings", () => ({
  commands: {
    providersCatalog: vi.fn(),
    keysList: vi.fn(),
    keysAdd: vi.fn(),
    keysTest: vi.fn(),
    keysRotate: vi.fn(),
    keysSetActive: vi.fn(),
    keysSetDefault: vi.fn(),
    keysRemove: vi.fn(),
    overview: vi.fn(),
  },
  events: { configurationChanged: { listen: vi.fn(() => Promise.resolve(() => {})) } },
}));

import { commands } from "../bindings";
import { Providers } from "./providers";

afterEach(cleanup);
const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;

const openai = { id: "openai", name: "OpenAI", protocol: "openai-chat", default_base_url: "https://api.openai.com/v1", models_path: "/models", auth: "bearer", key_prefix: "sk-" };
const ollama = { id: "ollama", name: "Local Ollama", protocol: "ollama", default_base_url: "http://127.0.0.1:11434", models_path: "/api/tags", auth: "none", key_prefix: null };
const key = {
  id: "k_1", provider: "openai", label: "Work", base_url: null, masked: "sk-…9xQ2", active: true, is_default: true,
  created_at: "2026-11-27T00:00:00Z", rotated_at: null, models: [], models_fetched_at: null, last_test: null, last_tested_at: null, health: "not_tested",
};

describe("LLM providers", () => {
  beforeEach(() => {
    vi.clearAllMocks();
    mocked.providersCatalog.mockResolvedValue([openai, ollama]);
    mocked.overview.mockResolvedValue({ status: "ok", data: { keys: [] } });
  });

  it("says which agents a key's deletion affects before deleting it", async () => {
    mocked.keysList.mockResolvedValue({ status: "ok", data: [key] });
    mocked.overview.mockResolvedValue({
      status: "ok",
      data: { keys: [{ id: "k_1", label: "Work", provider: "openai", last_call: "http_401", last_call_at: null, refused_in_use: true, health: "refused_in_use", used_by: ["reader", "writer", "editor"] }] },
    });
    render(<Providers />);
    await waitFor(() => expect(screen.getByText("refused on its last call")).toBeTruthy());
    fireEvent.click(screen.getByText("Delete"));
    expect(mocked.keysRemove).not.toHaveBeenCalled();
    expect(document.querySelector(".confirm")!.textContent).toContain("3 agents use it (reader, writer, editor)");
  });

  it("shows the core's health, not a reading of the test's sentence", async () => {
    // A running Ollama (its status refresh words its test its own way), and a replaced key the
    // core no longer counts as refused.
    mocked.keysList.mockResolvedValue({
      status: "ok",
      data: [
        { ...key, id: "k_2", label: "Local", provider: "ollama", masked: "", last_test: "Ollama 0.6.1 is running (2 models).", health: "working" },
        { ...key, last_test: "Valid: OpenAI accepted the key (3 models).", health: "working" },
      ],
    });
    mocked.overview.mockResolvedValue({
      status: "ok",
      data: { keys: [{ id: "k_1", label: "Work", provider: "openai", last_call: "http_401", last_call_at: null, refused_in_use: false, health: "working", used_by: [] }] },
    });
    render(<Providers />);
    await waitFor(() => expect(document.querySelectorAll("[data-health]").length).toBe(2));
    const shown = [...document.querySelectorAll("[data-health]")].map((e) => [e.getAttribute("data-health"), e.textContent?.trim()]);
    expect(shown).toEqual([
      ["working", "working"],
      ["working", "working"],
    ]);
  });

  it("says when there are no keys yet", async () => {
    mocked.keysList.mockResolvedValue({ status: "ok", data: [] });
    render(<Providers />);
    await waitFor(() => expect(screen.getByText("No keys yet. Add one below.")).toBeTruthy());
  });

  it("shows keys masked and the verdict of a test", async () => {
    mocked.keysList.mockResolvedValueOnce({ status: "ok", data: [key] });
    mocked.keysList.mockResolvedValue({ status: "ok", data: [{ ...key, last_test: "Rejected by OpenAI (401): invalid key", health: "rejected" }] });
    mocked.keysTest.mockResolvedValue({ status: "ok", data: { key, verdict: { verdict: "rejected", status: 401, provider_message: "invalid key" } } });
    render(<Providers />);
    await waitFor(() => expect(screen.getByText("sk-…9xQ2")).toBeTruthy());
    fireEvent.click(screen.getByText("Test"));
    await waitFor(() => expect(screen.getByText("Rejected by OpenAI (401): invalid key")).toBeTruthy());
    expect(mocked.keysTest).toHaveBeenCalledWith("k_1");
  });

  it("asks for an address and no key for a local Ollama", async () => {
    mocked.keysList.mockResolvedValue({ status: "ok", data: [] });
    mocked.keysAdd.mockResolvedValue({ status: "ok", data: { key, warnings: [] } });
    render(<Providers />);
    await waitFor(() => expect(document.querySelectorAll("#add-provider option").length).toBe(2));
    fireEvent.change(document.getElementById("add-provider")!, { target: { value: "ollama" } });
    await waitFor(() => expect(document.getElementById("add-key-secret")).toBeNull());
    expect(screen.getByText("Address")).toBeTruthy();
    fireEvent.input(document.getElementById("add-label")!, { target: { value: "Local" } });
    fireEvent.click(screen.getByText("Save key"));
    await waitFor(() =>
      expect(mocked.keysAdd).toHaveBeenCalledWith("ollama", "Local", null, "", {
        allow_insecure_http: false,
        marked_local: false,
      }),
    );
  });

  it("asks before a key goes over plain http to another machine", async () => {
    mocked.keysList.mockResolvedValue({ status: "ok", data: [] });
    mocked.keysAdd.mockResolvedValue({ status: "ok", data: { key, warnings: [] } });
    render(<Providers />);
    await waitFor(() => expect(document.querySelectorAll("#add-provider option").length).toBe(2));
    fireEvent.input(document.getElementById("add-base-url")!, { target: { value: "https://gw.example/v1" } });
    expect(document.getElementById("add-allow-http")).toBeNull();
    fireEvent.input(document.getElementById("add-base-url")!, { target: { value: "http://127.0.0.1:4000/v1" } });
    expect(document.getElementById("add-allow-http")).toBeNull();
    fireEvent.input(document.getElementById("add-base-url")!, { target: { value: "http://192.168.1.20:4000/v1" } });
    await waitFor(() => expect(document.getElementById("add-allow-http")).toBeTruthy());
    fireEvent.click(document.getElementById("add-allow-http")!);
    fireEvent.input(document.getElementById("add-label")!, { target: { value: "Gateway" } });
    fireEvent.input(document.getElementById("add-key-secret")!, { target: { value: "sk-x" } });
    fireEvent.click(screen.getByText("Save key"));
    await waitFor(() =>
      expect(mocked.keysAdd).toHaveBeenCalledWith("anthropic", "Gateway", "http://192.168.1.20:4000/v1", "sk-x", {
        allow_insecure_http: true,
        marked_local: false,
      }),
    );
    // A new key is tested on save.
    await waitFor(() => expect(mocked.keysTest).toHaveBeenCalledWith(key.id));
  });

  it("shows why a key was not saved", async () => {
    mocked.keysList.mockResolvedValue({ status: "ok", data: [] });
    mocked.keysAdd.mockResolvedValue({ status: "error", error: { kind: "bad_key_input", message: "The key is empty. Paste the key from the provider's console." } });
    render(<Providers />);
    await waitFor(() => expect(document.querySelectorAll("#add-provider option").length).toBe(2));
    fireEvent.click(screen.getByText("Save key"));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toContain("The key is empty"));
  });
});
