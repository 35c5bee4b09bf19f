// Answers in GitHub-flavoured markdown: headings, lists, task lists, tables, block quotes, links,
// strikethrough, inline and fenced code with highlighting. Parsed by micromark/mdast (the unified
// collective's parser, with its GFM extension) into a syntax tree, and the tree built as Preact
// elements, never as HTML: raw HTML in an answer shows as text, and a model's answer cannot
// inject markup, scripts or remote images into the window. Links open in the system browser
// only after the address is shown, and only for web and mail addresses.
import { useState } from "preact/hooks";
import type { ComponentChildren } from "preact";
import { fromMarkdown } from "mdast-util-from-markdown";
import { gfm } from "micromark-extension-gfm";
import { gfmFromMarkdown } from "mdast-util-gfm";
import { common, createLowlight } from "lowlight";
import type { Nodes, Root, RootContent, Table } from "mdast";
import type { Element as HastElement, ElementContent } from "hast";
import { commands } from "../bindings";

const lowlight = createLowlight(common);

/** The addresses a link may open: web pages and mail, nothing the webview would run. */
export function safeHref(url: string): string | null {
  try {
    const u = new URL(url);
    return ["http:", "https:", "mailto:"].includes(u.protocol) ? u.href : null;
  } catch {
    return null;
  }
}

export function parse(text: string): Root {
  return fromMarkdown(text, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
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

/** Highlighted code as elements (lowlight builds a hast tree; its classes are highlight.js's). */
function hast(nodes: ElementContent[]): ComponentChildren[] {
  return nodes.map((n, i) => {
    if (n.type === "text") return n.value;
    if (n.type !== "element") return null;
    const el = n as HastElement;
    const cls = el.properties?.className;
    return (
      <span key={i} class={Array.isArray(cls) ? cls.join(" ") : typeof cls === "string" ? cls : undefined}>
        {hast(el.children)}
      </span>
    );
  });
}

function highlighted(lang: string, value: string): ComponentChildren {
  const name = lang.toLowerCase();
  if (!name || !lowlight.registered(name)) return value;
  try {
    return hast(lowlight.highlight(name, value).children as ElementContent[]);
  } catch {
    return value;
  }
}

type Ctx = { source: string; ask: (href: string) => void };

function children(nodes: RootContent[], ctx: Ctx): ComponentChildren[] {
  return nodes.map((n, i) => node(n, ctx, i));
}

function plain(n: Nodes): string {
  if ("value" in n && typeof n.value === "string") return n.value;
  if ("children" in n) return (n.children as Nodes[]).map(plain).join("");
  return "";
}

function table(t: Table, ctx: Ctx, key: number) {
  const [head, ...rows] = t.children;
  const align = (i: number) => {
    const a = t.align?.[i];
    return a ? { textAlign: a } : undefined;
  };
  return (
    <div class="md-table" key={key}>
      <table>
        {head && (
          <thead>
            <tr>
              {head.children.map((c, i) => (
                <th key={i} style={align(i)}>
                  {children(c.children, ctx)}
                </th>
              ))}
            </tr>
          </thead>
        )}
        <tbody>
          {rows.map((r, j) => (
            <tr key={j}>
              {r.children.map((c, i) => (
                <td key={i} style={align(i)}>
                  {children(c.children, ctx)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function node(n: RootContent, ctx: Ctx, key: number): ComponentChildren {
  switch (n.type) {
    case "paragraph":
      return <p key={key}>{children(n.children, ctx)}</p>;
    case "heading": {
      // An answer's headings sit under the window's own: h3 to h6.
      const H = `h${Math.min(6, n.depth + 2)}` as "h3";
      return <H key={key}>{children(n.children, ctx)}</H>;
    }
    case "thematicBreak":
      return <hr key={key} />;
    case "blockquote":
      return <blockquote key={key}>{children(n.children, ctx)}</blockquote>;
    case "list": {
      const items = n.children.map((li, j) => (
        <li key={j} class={li.checked == null ? undefined : "task"}>
          {li.checked != null && <input type="checkbox" checked={li.checked} disabled aria-label={li.checked ? "done" : "not done"} />}
          {/* A tight list's paragraphs read as lines, not as separate paragraphs. */}
          {n.spread || li.spread
            ? children(li.children, ctx)
            : li.children.flatMap((c, k) => (c.type === "paragraph" ? children(c.children, ctx) : [node(c, ctx, k)]))}
        </li>
      ));
      return n.ordered ? (
        <ol key={key} start={n.start ?? undefined}>
          {items}
        </ol>
      ) : (
        <ul key={key} class={n.children.some((li) => li.checked != null) ? "tasks" : undefined}>
          {items}
        </ul>
      );
    }
    case "code": {
      const raw = ctx.source.slice(n.position?.start.offset ?? 0, n.position?.end.offset ?? ctx.source.length);
      const fenced = /^\s*(`{3,}|~{3,})/.exec(raw);
      // A fence still open (an answer mid-stream) has no copy button yet.
      const closed = !fenced || new RegExp(`\\n\\s*${fenced[1][0] === "`" ? "`" : "~"}{${fenced[1].length},}\\s*$`).test(raw);
      return (
        <div class="code-block" key={key}>
          <div class="code-head">
            <span>{n.lang || "code"}</span>
            {closed && <CopyButton text={n.value} label="Copy code" />}
          </div>
          <pre>
            <code class={n.lang ? `hljs language-${n.lang}` : "hljs"}>{highlighted(n.lang ?? "", n.value)}</code>
          </pre>
        </div>
      );
    }
    case "table":
      return table(n, ctx, key);
    case "html":
      // Shown as written: an answer's markup is text to read, never markup to run.
      return n.value;
    case "text":
      return n.value;
    case "strong":
      return <strong key={key}>{children(n.children, ctx)}</strong>;
    case "emphasis":
      return <em key={key}>{children(n.children, ctx)}</em>;
    case "delete":
      return <del key={key}>{children(n.children, ctx)}</del>;
    case "inlineCode":
      return <code key={key}>{n.value}</code>;
    case "break":
      return <br key={key} />;
    case "link": {
      const href = safeHref(n.url);
      if (!href) {
        return (
          <span key={key} class="link-refused" title={`Not opened: "${n.url.slice(0, 80)}" is not a web or mail address`}>
            {children(n.children, ctx)}
          </span>
        );
      }
      return (
        <a
          key={key}
          href={href}
          title={href}
          rel="noreferrer noopener"
          onClick={(e) => {
            e.preventDefault();
            ctx.ask(href);
          }}
        >
          {children(n.children, ctx)}
        </a>
      );
    }
    case "image":
      // Never fetched: a remote image in an answer would tell its server that it was read.
      return (
        <span key={key} class="image-ref" title={n.url}>
          [image: {n.alt || n.url}]
        </span>
      );
    case "linkReference":
    case "imageReference":
    case "footnoteReference":
      return ctx.source.slice(n.position?.start.offset ?? 0, n.position?.end.offset ?? 0);
    case "definition":
    case "footnoteDefinition":
    case "yaml":
      return null;
    default:
      return plain(n as Nodes);
  }
}

/** The address a link points to, shown before it opens in the system browser. */
function LinkConfirm({ href, onClose }: { href: string; onClose: () => void }) {
  const [error, setError] = useState<string | null>(null);
  return (
    <div class="link-confirm" role="dialog" aria-label="Open this link?">
      <p>
        Open in your browser?
        <br />
        <code class="link-address">{href}</code>
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button
        type="button"
        class="link-open"
        ref={(b) => b?.focus()}
        onClick={async () => {
          const r = await commands.openLink(href);
          if (r.status === "ok") onClose();
          else setError(r.error.message);
        }}
      >
        Open
      </button>{" "}
      <button type="button" class="secondary link-cancel" onClick={onClose}>
        Cancel
      </button>
    </div>
  );
}

export function Markdown({ text }: { text: string }) {
  const [asking, setAsking] = useState<string | null>(null);
  const ctx: Ctx = { source: text, ask: setAsking };
  return (
    <div class="md">
      {children(parse(text).children, ctx)}
      {asking && <LinkConfirm href={asking} onClose={() => setAsking(null)} />}
    </div>
  );
}
