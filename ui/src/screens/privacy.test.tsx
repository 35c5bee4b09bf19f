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

  it("asks before removing a term, which cloud models would then receive as written", async () => {
    const terms = [{ id: "t_1", hint: "Pr…le" }, { id: "t_2", hint: "Ac…gs" }];
    mocked.dictionaryList.mockResolvedValue({ status: "ok", data: terms });
    mocked.phoneRegionGet.mockResolvedValue({ status: "ok", data: { choice: "system", region: "US", system: "US" } });
    mocked.dictionaryRemove.mockResolvedValue({ status: "ok", data: [terms[1]] });
    render(<Privacy />);
    await waitFor(() => expect(document.querySelectorAll(".remove-term").length).toBe(2));
    fireEvent.click(document.querySelector('[data-term="t_1"] .remove-term')!);
    expect(mocked.dictionaryRemove).not.toHaveBeenCalled();
    expect(document.querySelector('[data-term="t_1"] [role="alertdialog"]')!.textContent).toContain("send it as written again");
    // Keep leaves it; a second try and the confirmation remove it.
    fireEvent.click(document.querySelector('[data-term="t_1"] .confirm-inline button.secondary')!);
    expect(document.querySelector('[role="alertdialog"]')).toBeNull();
    fireEvent.click(document.querySelector('[data-term="t_1"] .remove-term')!);
    fireEvent.click(document.querySelector(".confirm-remove-term")!);
    await waitFor(() => expect(mocked.dictionaryRemove).toHaveBeenCalledWith("t_1"));
    await waitFor(() => expect(document.querySelectorAll("[data-term]").length).toBe(1));
  });
});
