// Front-end unit tests. The Rust side is replaced by a mock of the generated bindings (named as
// such): these tests check that screens show what the core answers, not the core itself.
import { describe, it, expect, vi, beforeEach, afterEach } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/preact";

afterEach(cleanup);

vi.mock("../bindings", () => ({
  commands: {
    createVault: vi.fn(),
    unlock: vi.fn(),
    passphraseStrength: vi.fn(),
    changePassphrase: vi.fn(),
    lock: vi.fn(),
    workspaceInfo: vi.fn(),
  },
  events: { vaultChanged: { listen: vi.fn(() => Promise.resolve(() => {})) } },
}));

import { commands } from "../bindings";
import { FirstRun } from "./first-run";
import { Unlock } from "./unlock";

const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;
const info = { status: "unlocked", data_dir: "/tmp/k", vault_created_at: null, last_unlocked_at: null };

function type(id: string, value: string) {
  fireEvent.input(document.getElementById(id)!, { target: { value } });
}

describe("first run", () => {
  beforeEach(() => vi.clearAllMocks());

  it("shows the core's strength hint as the passphrase is typed", async () => {
    mocked.passphraseStrength.mockResolvedValue({ level: "weak", hint: "Easy to guess: make it longer." });
    render(<FirstRun dataDir="/tmp/k" onCreated={() => {}} />);
    type("new-passphrase", "aaaaaaaaaaaa");
    await waitFor(() => expect(screen.getByText("Easy to guess: make it longer.")).toBeTruthy());
    expect(document.getElementById("strength")!.dataset.level).toBe("weak");
    expect(mocked.passphraseStrength).toHaveBeenCalledWith("aaaaaaaaaaaa");
  });

  it("shows why the vault was not created, and does not move on", async () => {
    mocked.passphraseStrength.mockResolvedValue({ level: "good", hint: "Good." });
    mocked.createVault.mockResolvedValue({
      status: "error",
      error: { kind: "bad_passphrase", message: "The two passphrases do not match. Type the same passphrase twice." },
    });
    const onCreated = vi.fn();
    render(<FirstRun dataDir="/tmp/k" onCreated={onCreated} />);
    type("new-passphrase", "orbit velvet canyon");
    type("confirm-passphrase", "orbit velvet canyoN");
    fireEvent.click(screen.getByText("Create vault"));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toContain("do not match"));
    expect(mocked.createVault).toHaveBeenCalledWith("orbit velvet canyon", "orbit velvet canyoN");
    expect(onCreated).not.toHaveBeenCalled();
  });

  it("moves on when the vault is created", async () => {
    mocked.passphraseStrength.mockResolvedValue({ level: "good", hint: "Good." });
    mocked.createVault.mockResolvedValue({ status: "ok", data: info });
    const onCreated = vi.fn();
    render(<FirstRun dataDir="/tmp/k" onCreated={onCreated} />);
    type("new-passphrase", "orbit velvet canyon");
    type("confirm-passphrase", "orbit velvet canyon");
    fireEvent.click(screen.getByText("Create vault"));
    await waitFor(() => expect(onCreated).toHaveBeenCalledWith(info));
  });
});

describe("unlock", () => {
  beforeEach(() => vi.clearAllMocks());

  it("cannot be submitted empty", () => {
    render(<Unlock onUnlocked={() => {}} />);
    expect((document.getElementById("unlock-button") as HTMLButtonElement).disabled).toBe(true);
  });

  it("says plainly when the passphrase is wrong, and stays locked", async () => {
    mocked.unlock.mockResolvedValue({
      status: "error",
      error: { kind: "wrong_passphrase", message: "Wrong passphrase. The vault stays locked and nothing was changed." },
    });
    const onUnlocked = vi.fn();
    render(<Unlock onUnlocked={onUnlocked} />);
    type("unlock-passphrase", "not it");
    fireEvent.click(screen.getByText("Unlock"));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("Wrong passphrase. The vault stays locked and nothing was changed."));
    expect(screen.getByRole("alert").dataset.kind).toBe("wrong_passphrase");
    expect(onUnlocked).not.toHaveBeenCalled();
  });

  it("is ready for typing, says why it locked, and shows the passphrase on request", () => {
    sessionStorage.setItem("keyhold.lock.reason", "Locked after 5 minutes without use of this window.");
    render(<Unlock onUnlocked={() => {}} />);
    const field = document.getElementById("unlock-passphrase") as HTMLInputElement;
    expect(document.activeElement).toBe(field);
    expect(document.getElementById("lock-reason")!.textContent).toBe("Locked after 5 minutes without use of this window.");
    expect(sessionStorage.getItem("keyhold.lock.reason")).toBeNull();
    expect(field.type).toBe("password");
    fireEvent.click(document.getElementById("unlock-reveal")!);
    expect(field.type).toBe("text");
    expect(document.activeElement).toBe(field);
    fireEvent.click(document.getElementById("unlock-reveal")!);
    expect(field.type).toBe("password");
  });

  it("clears the typed passphrase once unlocked", async () => {
    mocked.unlock.mockResolvedValue({ status: "ok", data: info });
    const onUnlocked = vi.fn();
    render(<Unlock onUnlocked={onUnlocked} />);
    type("unlock-passphrase", "orbit velvet canyon");
    fireEvent.click(screen.getByText("Unlock"));
    await waitFor(() => expect(onUnlocked).toHaveBeenCalledWith(info));
    expect((document.getElementById("unlock-passphrase") as HTMLInputElement).value).toBe("");
  });
});

import { bucketTime, sums, ticksFor, toolsText } from "./usage";

describe("usage charts", () => {
  const point = (bucket: string, agent: string, cost: string, requests = 1) => ({
    bucket,
    agent,
    tokens: { input: 1, output: 2, cache_read: 0, cache_write: 0 },
    cost_usd: cost,
    requests,
    failures: 0,
    unknown_cost: 0,
  });

  it("puts every bucket of the range on the axis, empty ones as zero", () => {
    const buckets = ["2026-11-28", "2026-11-29", "2026-11-30"];
    const pts = [point("2026-11-28", "a", "0.5"), point("2026-11-30", "b", "0.25"), point("2026-11-30", "a", "1")];
    expect(sums(buckets, pts, (p) => Number(p.cost_usd))).toEqual([0.5, 0, 1.25]);
    expect(sums(buckets, pts, (p) => Number(p.cost_usd), "a")).toEqual([0.5, 0, 1]);
    expect(bucketTime("2026-11-30T14:30") - bucketTime("2026-11-30")).toBe(14.5 * 3600);
  });

  it("puts each day's tick on that day's bar, west of UTC too", () => {
    const zone = process.env.TZ;
    process.env.TZ = "America/Los_Angeles";
    try {
      const days = Array.from({ length: 30 }, (_, i) => `2026-11-${String(i + 1).padStart(2, "0")}`);
      const xs = days.map(bucketTime);
      const ticks = ticksFor(xs, false, 8);
      expect(ticks.length).toBeLessThanOrEqual(8);
      expect(ticks[ticks.length - 1]).toBe(bucketTime("2026-11-30"));
      // A tick is a bucket's start, so its label is that bucket's date, not the day before.
      for (const t of ticks) {
        const day = days[xs.indexOf(t)];
        expect(day).toBeDefined();
        expect(new Date(t * 1000).getDate()).toBe(Number(day.slice(8)));
      }
      expect(ticksFor(xs, false, 40)).toEqual(xs);
      const hours = Array.from({ length: 48 }, (_, h) => bucketTime(`2026-11-${h < 24 ? "29" : "30"}T${String(h % 24).padStart(2, "0")}:00`));
      const hourly = ticksFor(hours, true, 8);
      expect(hourly.map((t) => new Date(t * 1000).getHours())).toEqual([0, 6, 12, 18, 0, 6, 12, 18]);
      expect(hourly).toContain(bucketTime("2026-11-30"));
    } finally {
      process.env.TZ = zone;
    }
  });
});

describe("usage rows", () => {
  it("says which provider-side tools a cost includes, in words", () => {
    expect(toolsText("web_search:2 file_search:1")).toBe("2 web searches, 1 file search");
    expect(toolsText("web_search:1")).toBe("1 web search");
    expect(toolsText("")).toBe("");
  });
});
