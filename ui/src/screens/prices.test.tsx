// The Prices page against a mock of the generated bindings (named as such): labelled fields,
// an empty cache field sent as none, which row applies, and overrides removable.
import { describe, it, expect, vi, beforeEach, afterEach } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/preact";

vi.mock("../bindings", () => ({
  commands: { pricesList: vi.fn(), pricesSet: vi.fn(), pricesRemove: vi.fn() },
  events: { configurationChanged: { listen: vi.fn(() => Promise.resolve(() => {})) } },
}));

import { commands } from "../bindings";
import { Prices } from "./prices";

afterEach(cleanup);
const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;
const entry = (over: object) => ({
  provider: "openai", model: "gpt-4o-mini", price: { input: "0.15", output: "0.6", cache_read: "0.075", cache_write: "0" },
  source: "file 2026-11-25", applies: true, cache_read_own: false, cache_write_own: false, cache_read_from_file: true, cache_write_from_file: true,
  ...over,
});

describe("Prices", () => {
  beforeEach(() => {
    vi.clearAllMocks();
    mocked.pricesList.mockResolvedValue({
      status: "ok",
      data: [
        entry({ provider: null, source: "override", price: { input: "0.2", output: "0.8", cache_read: "0.075", cache_write: "0" } }),
        entry({ applies: false }),
        entry({ provider: null, model: "my-model", source: "override", price: { input: "1", output: "2", cache_read: "1", cache_write: "1" }, cache_read_from_file: false, cache_write_from_file: false }),
      ],
    });
    mocked.pricesSet.mockResolvedValue({ status: "ok", data: null });
    mocked.pricesRemove.mockResolvedValue({ status: "ok", data: true });
  });

  it("labels every field in USD per million tokens and sends an empty cache field as none", async () => {
    render(<Prices />);
    expect(screen.getByText(/USD per million tokens/)).toBeTruthy();
    fireEvent.input(screen.getByLabelText("Model"), { target: { value: "gpt-4o-mini" } });
    fireEvent.input(screen.getByLabelText("Input"), { target: { value: "0.2" } });
    fireEvent.input(screen.getByLabelText("Output"), { target: { value: "0.8" } });
    fireEvent.click(screen.getByText("Set my price"));
    await waitFor(() => expect(mocked.pricesSet).toHaveBeenCalledWith("gpt-4o-mini", "0.2", "0.8", null, null));
    await waitFor(() => expect(screen.getByRole("status").textContent).toContain("gpt-4o-mini"));
  });

  it("shows which row applies, where an override's cache rate comes from, and removes it", async () => {
    const { container } = render(<Prices />);
    await waitFor(() => expect(container.querySelectorAll("tbody tr").length).toBe(3));
    const rows = container.querySelectorAll("tbody tr");
    expect(rows[0].querySelector(".applies")!.textContent).toBe("your price");
    expect(rows[0].textContent).toContain("from the file");
    expect(rows[1].classList.contains("shadowed")).toBe(true);
    expect(rows[1].querySelector(".applies")!.textContent).toBe("no: your price applies");
    expect(rows[2].textContent).toContain("as input");
    fireEvent.click(rows[0].querySelector(".remove-price")!);
    await waitFor(() => expect(mocked.pricesRemove).toHaveBeenCalledWith("gpt-4o-mini"));
  });
});
