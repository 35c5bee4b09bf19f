// The "Changed outside Keyhold" notice. The Rust side is a mock of the generated bindings (named
// as such): this checks what the window shows and sends, not the core's checks.
import { describe, it, expect, vi, afterEach } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/preact";

afterEach(cleanup);

vi.mock("../bindings", () => ({ commands: { acceptChanges: vi.fn() } }));

import { commands } from "../bindings";
import { ChangedOutside } from "./changed-outside";

const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;
const base = { status: "unlocked", data_dir: "/tmp/k", vault_created_at: null, last_unlocked_at: null, never_signed: false };
const changed = { ...base, changed_outside: ["usage ledger rows 3 to 4 were deleted outside Keyhold"] };

describe("changed outside Keyhold", () => {
  it("names each change, says budgets run locally, and acknowledges only with the passphrase", async () => {
    mocked.acceptChanges.mockResolvedValueOnce({
      status: "error",
      error: { kind: "wrong_passphrase", message: "Wrong passphrase." },
    });
    mocked.acceptChanges.mockResolvedValueOnce({ status: "ok", data: { ...base, changed_outside: [] } });
    const accepted = vi.fn();
    render(<ChangedOutside info={changed as never} onAccepted={accepted} />);
    expect(screen.getByText("usage ledger rows 3 to 4 were deleted outside Keyhold")).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toContain("local steps only");
    fireEvent.click(document.getElementById("accept-changes")!);
    const confirm = document.getElementById("accept-changes-confirm") as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    const input = document.getElementById("accept-changes-passphrase")!;
    fireEvent.input(input, { target: { value: "wrong one" } });
    fireEvent.submit(document.getElementById("accept-changes-form")!);
    await waitFor(() => expect(screen.getByText("Wrong passphrase.")).toBeTruthy());
    expect(accepted).not.toHaveBeenCalled();
    fireEvent.input(input, { target: { value: "orbit velvet canyon" } });
    fireEvent.submit(document.getElementById("accept-changes-form")!);
    await waitFor(() => expect(accepted).toHaveBeenCalled());
    expect(mocked.acceptChanges).toHaveBeenLastCalledWith("orbit velvet canyon");
  });

  it("shows what a database this vault never signed holds, and adopts it only with the passphrase", async () => {
    mocked.acceptChanges.mockResolvedValueOnce({ status: "ok", data: { ...base, changed_outside: [] } });
    const info = {
      ...base,
      never_signed: true,
      changed_outside: ["this database was never signed by this vault: …", 'agent "Planted" is in it', 'key "oa" is in it'],
    };
    const accepted = vi.fn();
    render(<ChangedOutside info={info as never} onAccepted={accepted} />);
    const notice = screen.getByRole("alert");
    expect(notice.textContent).toContain("never signed");
    expect(screen.getByText('agent "Planted" is in it')).toBeTruthy();
    expect(notice.querySelectorAll("li").length).toBe(2);
    fireEvent.click(document.getElementById("accept-changes")!);
    expect(document.getElementById("accept-changes-confirm")!.textContent).toBe("Adopt this database");
    fireEvent.input(document.getElementById("accept-changes-passphrase")!, { target: { value: "orbit velvet canyon" } });
    fireEvent.submit(document.getElementById("accept-changes-form")!);
    await waitFor(() => expect(accepted).toHaveBeenCalled());
  });
});
