import { describe, it, expect, afterEach } from "vitest";
import { render, cleanup } from "@testing-library/preact";
import { blocks, Markdown } from "./markdown";

afterEach(cleanup);

describe("markdown", () => {
  it("splits paragraphs, lists, headings and fenced code", () => {
    const b = blocks("# Plan\n\nFirst **do** this:\n- one\n- two\n\n1. a\n2. b\n\n```rust\nfn main() {}\n```\nDone.");
    expect(b.map((x) => x.kind)).toEqual(["heading", "paragraph", "list", "list", "code", "paragraph"]);
    expect(b[4]).toEqual({ kind: "code", lang: "rust", text: "fn main() {}", open: false });
  });

  it("keeps a fence still open mid-stream as code", () => {
    const b = blocks("Here:\n```py\nprint(1)");
    expect(b[1]).toEqual({ kind: "code", lang: "py", text: "print(1)", open: true });
  });

  it("renders markup in an answer as text, never as HTML", () => {
    const { container } = render(<Markdown text={"<img src=x onerror=alert(1)> and `<b>` **bold**"} />);
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("b")).toBeNull();
    expect(container.querySelector("code")!.textContent).toBe("<b>");
    expect(container.querySelector("strong")!.textContent).toBe("bold");
    expect(container.textContent).toContain("<img src=x onerror=alert(1)>");
  });

  it("gives a closed code block a copy button", () => {
    const { container } = render(<Markdown text={"```\nls -la\n```"} />);
    expect(container.querySelector(".code-block pre")!.textContent).toBe("ls -la");
    expect(container.querySelector(".code-block button")!.textContent).toBe("Copy code");
  });
});
