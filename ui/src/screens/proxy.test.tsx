// The proxy screen's port field. The Rust side is a mock of the generated bindings (named as such).
import { describe, it, expect, vi, beforeEach, afterEach } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/preact";

afterEach(cleanup);

vi.mock("../bindings", () => ({
  commands: { proxyStatus: vi.fn(), agentsList: vi.fn(), proxyStart: vi.fn(), connectTool: vi.fn() },
  events: { configurationChanged: { listen: vi.fn(() => Promise.resolve(() => {})) } },
}));

import { commands } from "../bindings";
import { ErrorNote } from "../components/error-note";
import { Proxy, parsePort } from "./proxy";

const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;
const stopped = { running: false, address: null, port: 4180, tokens: [], allowed_origins: [] };

describe("the proxy's port field", () => {
  beforeEach(() => vi.clearAllMocks());

  it("takes 1 to 65535, or nothing for the remembered port", () => {
    expect(parsePort("")).toBe(null);
    expect(parsePort(" 8080 ")).toBe(8080);
    expect(parsePort("65535")).toBe(65535);
    expect(parsePort("0")).toBe("bad");
    expect(parsePort("65536")).toBe("bad");
    expect(parsePort("4180123")).toBe("bad");
    expect(parsePort("80a")).toBe("bad");
  });

  it("says a port out of range is not a port, and does not call the core", async () => {
    mocked.proxyStatus.mockResolvedValue({ status: "ok", data: stopped });
    mocked.agentsList.mockResolvedValue({ status: "ok", data: [] });
    render(<Proxy />);
    await waitFor(() => expect((document.getElementById("proxy-port") as HTMLInputElement).value).toBe("4180"));
    fireEvent.input(document.getElementById("proxy-port")!, { target: { value: "418012345" } });
    fireEvent.click(screen.getByText("Start"));
    const alert = await waitFor(() => screen.getByRole("alert"));
    expect(alert.dataset.kind).toBe("input");
    expect(alert.textContent).toContain("from 1 to 65535");
    expect(mocked.proxyStart).not.toHaveBeenCalled();
  });

  it("keeps what the user typed when the status arrives after it", async () => {
    let answer: (v: unknown) => void = () => {};
    mocked.proxyStatus.mockReturnValue(new Promise((r) => (answer = r)));
    mocked.agentsList.mockResolvedValue({ status: "ok", data: [] });
    render(<Proxy />);
    fireEvent.input(document.getElementById("proxy-port")!, { target: { value: "5123" } });
    answer({ status: "ok", data: stopped });
    await waitFor(() => expect(screen.getByText("Stopped")).toBeTruthy());
    await new Promise((r) => setTimeout(r, 0));
    expect((document.getElementById("proxy-port") as HTMLInputElement).value).toBe("5123");
  });
});

describe("connecting a tool", () => {
  beforeEach(() => vi.clearAllMocks());

  it("shows what the chosen tool needs, for the chosen agent, and where it goes", async () => {
    mocked.proxyStatus.mockResolvedValue({ status: "ok", data: stopped });
    mocked.agentsList.mockResolvedValue({ status: "ok", data: [{ agent: { id: "a1", name: "coder" } }, { agent: { id: "a2", name: "writer" } }] });
    mocked.connectTool.mockResolvedValue({
      status: "ok",
      data: { tool: "codex", file: "~/.codex/config.toml", text: 'wire_api = "responses"\n', token_id: "t9" },
    });
    render(<Proxy />);
    await waitFor(() => expect((document.getElementById("connect-agent") as HTMLSelectElement).options.length).toBe(2));
    fireEvent.change(document.getElementById("connect-tool")!, { target: { value: "codex" } });
    fireEvent.change(document.getElementById("connect-agent")!, { target: { value: "writer" } });
    fireEvent.click(screen.getByText("Show settings"));
    await waitFor(() => expect(document.getElementById("connect-result")).toBeTruthy());
    expect(mocked.connectTool).toHaveBeenCalledWith("codex", "writer");
    expect(document.getElementById("connect-result")!.textContent).toContain("Codex runs as writer. In ~/.codex/config.toml:");
    expect(document.getElementById("connect-text")!.textContent).toContain('wire_api = "responses"');
  });
});

describe("an error that is not a CommandError", () => {
  it("still shows a kind and a message", () => {
    render(<ErrorNote error={"invalid args `port` for command `proxy_start`" as never} />);
    const alert = screen.getByRole("alert");
    expect(alert.dataset.kind).toBe("internal");
    expect(alert.textContent).toContain("invalid args");
  });
});
