// Answers as people read them in chat apps: paragraphs, lists, headings, **bold**, *italic*,
// `code`, and fenced code blocks with a copy button. Built as elements, never as HTML: a model's
// answer cannot inject markup into the window.
import { useState } from "preact/hooks";

export type Block =
  | { kind: "code"; lang: string; text: string; open: boolean }
  | { kind: "heading"; level: number; text: string }
  | { kind: "list"; ordered: boolean; items: string[] }
  | { kind: "paragraph"; text: string };

/** Splits markdown into blocks. A fence still open (an answer mid-stream) runs to the end. */
export function blocks(text: string): Block[] {
  const out: Block[] = [];
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  let para: string[] = [];
  const flush = () => {
    if (para.length) out.push({ kind: "paragraph", text: para.join("\n") });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*(```|~~~)\s*([\w+#.-]*)\s*$/);
    if (fence) {
      flush();
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !lines[j].trim().startsWith(fence[1])) body.push(lines[j++]);
      out.push({ kind: "code", lang: fence[2], text: body.join("\n"), open: j >= lines.length });
      i = j;
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      flush();
      out.push({ kind: "heading", level: heading[1].length, text: heading[2] });
      continue;
    }
    const item = line.match(/^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/);
    if (item) {
      flush();
      const ordered = item[2] !== undefined;
      const last = out[out.length - 1];
      if (last?.kind === "list" && last.ordered === ordered) last.items.push(item[3]);
      else out.push({ kind: "list", ordered, items: [item[3]] });
      continue;
    }
    if (line.trim() === "") {
      flush();
      continue;
    }
    para.push(line);
  }
  flush();
  return out;
}

/** `code`, **bold**, *italic* inside a line of text. */
export function inline(text: string): (string | preact.JSX.Element)[] {
  const parts: (string | preact.JSX.Element)[] = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])/g;
  let at = 0;
  let m: RegExpExecArray | null;
  let n = 0;
  while ((m = re.exec(text))) {
    if (m.index > at) parts.push(text.slice(at, m.index));
    if (m[1] !== undefined) parts.push(<code key={n++}>{m[1]}</code>);
    else if (m[2] !== undefined) parts.push(<strong key={n++}>{m[2]}</strong>);
    else parts.push(<em key={n++}>{m[3]}</em>);
    at = m.index + m[0].length;
  }
  if (at < text.length) parts.push(text.slice(at));
  return parts;
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="copy secondary"
      onClick={async () => {
        await navigator.clipboard?.writeText(text).catch(() => {});
        setDone(true);
        setTimeout(() => setDone(false), 1500);
      }}
    >
      {done ? "Copied" : label}
    </button>
  );
}

export function Markdown({ text }: { text: string }) {
  return (
    <div class="md">
      {blocks(text).map((b, i) => {
        switch (b.kind) {
          case "code":
            return (
              <div class="code-block" key={i}>
                <div class="code-head">
                  <span>{b.lang || "code"}</span>
                  {!b.open && <CopyButton text={b.text} label="Copy code" />}
                </div>
                <pre>
                  <code>{b.text}</code>
                </pre>
              </div>
            );
          case "heading":
            return <h4 key={i}>{inline(b.text)}</h4>;
          case "list": {
            const items = b.items.map((t, j) => <li key={j}>{inline(t)}</li>);
            return b.ordered ? <ol key={i}>{items}</ol> : <ul key={i}>{items}</ul>;
          }
          default:
            return <p key={i}>{inline(b.text)}</p>;
        }
      })}
    </div>
  );
}
