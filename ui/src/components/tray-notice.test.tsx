// The tray's notice against a mock of the generated bindings' events (named as such).
import { describe, it, expect, vi } from "vitest";
import { render, fireEvent, waitFor } from "@testing-library/preact";

let deliver: (e: { payload: unknown }) => void = () => {};
vi.mock("../bindings", () => ({
  events: {
    trayFailed: {
      listen: vi.fn((cb: (e: { payload: unknown }) => void) => {
        deliver = cb;
        return Promise.resolve(() => {});
      }),
    },
  },
}));

import { TrayNotice } from "./tray-notice";

describe("tray notice", () => {
  it("says what the tray could not do and why, until closed", async () => {
    render(<TrayNotice />);
    expect(document.getElementById("tray-failed")).toBeNull();
    deliver({ payload: { action: "Starting the proxy", error: { kind: "locked", message: "Keyhold is locked. Unlock it with your passphrase first." } } });
    await waitFor(() =>
      expect(document.getElementById("tray-failed")!.textContent).toContain(
        "Starting the proxy from the tray did not work: Keyhold is locked. Unlock it with your passphrase first.",
      ),
    );
    fireEvent.click(document.querySelector("#tray-failed button")!);
    await waitFor(() => expect(document.getElementById("tray-failed")).toBeNull());
  });
});
