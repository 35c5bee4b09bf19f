// The Privacy page against a mock of the generated bindings (named as such).
import { cleanup, fireEvent, render, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../bindings", () => ({
  commands: { dictionaryList: vi.fn(), dictionaryAdd: vi.fn(), dictionaryRemove: vi.fn(), phoneRegionGet: vi.fn(), phoneRegionSet: vi.fn(), payloadLogDays: vi.fn(), payloadLogList: vi.fn(), payloadLogSetDays: vi.fn(), payloadLogOpen: vi.fn() },
}));

import { commands } from "../bindings";
import { Privacy } from "./privacy";

afterEach(cleanup);
const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;

describe("privacy", () => {
  beforeEach(() => {
    vi.clearAllMocks();
    mocked.dictionaryList.mockResolvedValue({ status: "ok", data: [] });
    mocked.payloadLogDays.mockResolvedValue({ status: "ok", data: 0 });
    mocked.payloadLogList.mockResolvedValue({ status: "ok", data: [] });
  });

  it("shows the phone region from the system, warns when there is none, and saves a chosen one", async () => {
    mocked.phoneRegionGet.mockResolvedValue({ status: "ok", data: { choice: "system", region: null, system: null } });
    mocked.phoneRegionSet.mockResolvedValue({ status: "ok", data: { choice: "DE", region: "DE", system: null } });
    render(<Privacy />);
    await waitFor(() => expect(document.getElementById("phone-region")).toBeTruthy());
    const select = document.getElementById("phone-region") as HTMLSelectElement;
    expect(select.value).toBe("system");
    expect(select.options[0].textContent).toBe("From the system (it names no country)");
    expect(document.getElementById("phone-region-none")!.textContent).toContain("reaches cloud models as written");
    fireEvent.change(select, { target: { value: "DE" } });
    await waitFor(() => expect(mocked.phoneRegionSet).toHaveBeenCalledWith("DE"));
    await waitFor(() => expect(document.getElementById("phone-region-none")).toBeNull());
  });
});
