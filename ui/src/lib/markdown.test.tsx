// The answer renderer against a mock of the generated bindings (named as such: opening a link
// is the one command it calls).
import { describe, it, expect, vi, afterEach, beforeEach } from "vitest";
import { render, cleanup, fireEvent, waitFor } from "@testing-library/preact";

vi.mock("../bindings", () => ({ commands: { openLink: vi.fn() } }));

import { commands } from "../bindings";
import { Markdown, safeHref } from "./markdown";

afterEach(cleanup);
const openLink = commands.openLink as unknown as ReturnType<typeof vi.fn>;

describe("markdown", () => {
  beforeEach(() => openLink.mockReset());

  it("renders headings, lists, task lists, quotes and tables as elements", () => {
    const text = [
      "# Plan",
      "",
      "First **do** this, ~~not that~~:",
      "- one",
      "- two",
      "",
      "* [x] done",
      "* [ ] open",
      "",
      "> quoted *advice*",
      "",
      "| Model | Price |",
      "|:------|------:|",
      "| haiku | $1 |",
      "| sonnet | $3 |",
    ].join("\n");
    const { container } = render(<Markdown text={text} />);
    expect(container.querySelector("h3")!.textContent).toBe("Plan");
    expect(container.querySelector("del")!.textContent).toBe("not that");
    expect(container.querySelectorAll("ul")[0].querySelectorAll("li").length).toBe(2);
    const boxes = container.querySelectorAll<HTMLInputElement>("ul.tasks input[type=checkbox]");
    expect([...boxes].map((b) => b.checked)).toEqual([true, false]);
    expect(container.querySelector("blockquote em")!.textContent).toBe("advice");
    const cells = [...container.querySelectorAll("table tbody tr")].map((r) => [...r.querySelectorAll("td")].map((c) => c.textContent));
    expect(cells).toEqual([
      ["haiku", "$1"],
      ["sonnet", "$3"],
    ]);
    expect(container.querySelector("table th")!.textContent).toBe("Model");
    expect(container.textContent).not.toContain("|");
    expect(container.textContent).not.toContain(">");
  });

  it("renders markup in an answer as text, never as HTML", () => {
    const { container } = render(<Markdown text={"<img src=x onerror=alert(1)> and `<b>` **bold**\n\n<script>alert(1)</script>"} />);
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("script")).toBeNull();
    expect(container.querySelector("b")).toBeNull();
    expect(container.querySelector("code")!.textContent).toBe("<b>");
    expect(container.querySelector("strong")!.textContent).toBe("bold");
    expect(container.textContent).toContain("<img src=x onerror=alert(1)>");
    expect(container.textContent).toContain("<script>alert(1)</script>");
  });

  it("never fetches an image in an answer", () => {
    const { container } = render(<Markdown text={"![tracker](https://example.com/pixel.png)"} />);
    expect(container.querySelector("img")).toBeNull();
    expect(container.textContent).toContain("[image: tracker]");
  });

  it("opens a link in the system browser only after showing its address", async () => {
    openLink.mockResolvedValue({ status: "ok", data: null });
    const { container, getByRole } = render(<Markdown text={"See [the docs](https://docs.example.com/a?b=1)."} />);
    const a = container.querySelector("a")!;
    expect(a.getAttribute("href")).toBe("https://docs.example.com/a?b=1");
    fireEvent.click(a);
    expect(openLink).not.toHaveBeenCalled();
    const dialog = getByRole("dialog");
    expect(dialog.textContent).toContain("https://docs.example.com/a?b=1");
    fireEvent.click(dialog.querySelector(".link-open")!);
    await waitFor(() => expect(openLink).toHaveBeenCalledWith("https://docs.example.com/a?b=1"));
    await waitFor(() => expect(container.querySelector("[role=dialog]")).toBeNull());
  });

  it("refuses a javascript: link: its text shows, nothing can open it", () => {
    const { container } = render(<Markdown text={"[click me](javascript:alert(1)) and [f](file:///etc/passwd)"} />);
    expect(container.querySelector("a")).toBeNull();
    expect(container.querySelectorAll(".link-refused").length).toBe(2);
    expect(container.textContent).toContain("click me");
    expect(safeHref("javascript:alert(1)")).toBeNull();
    expect(safeHref("data:text/html,x")).toBeNull();
    expect(safeHref("mailto:a@b.c")).toBe("mailto:a@b.c");
  });

  it("highlights fenced code and gives a closed block a copy button", () => {
    const { container } = render(<Markdown text={"```rust\nfn main() { let x = 1; }\n```"} />);
    const code = container.querySelector(".code-block pre code")!;
    expect(code.textContent).toBe("fn main() { let x = 1; }");
    expect(code.querySelector(".hljs-keyword")!.textContent).toBe("fn");
    expect(container.querySelector(".code-block button")!.textContent).toBe("Copy code");
  });

  it("keeps a fence still open mid-stream as code, without a copy button yet", () => {
    const { container } = render(<Markdown text={"Here:\n```py\nprint(1)"} />);
    expect(container.querySelector(".code-block pre")!.textContent).toBe("print(1)");
    expect(container.querySelector(".code-block button")).toBeNull();
  });
});
