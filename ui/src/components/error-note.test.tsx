import { render, screen } from "@testing-library/preact";
import { describe, expect, it } from "vitest";

import { ErrorNote, errorTone } from "./error-note";

describe("ErrorNote", () => {
  it("tells a typing mistake from a state to change and from a fault", () => {
    expect(errorTone("wrong_passphrase")).toBe("input");
    expect(errorTone("budget_reached")).toBe("state");
    expect(errorTone("vault_damaged")).toBe("fault");
  });

  it("shows the core's message with its kind and tone", () => {
    render(<ErrorNote error={{ kind: "locked", message: "Keyhold is locked. Unlock it with your passphrase first." }} />);
    const note = screen.getByRole("alert");
    expect(note.textContent).toBe("Keyhold is locked. Unlock it with your passphrase first.");
    expect(note.dataset.kind).toBe("locked");
    expect(note.dataset.tone).toBe("state");
  });
});
