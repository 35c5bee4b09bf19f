// Usage: what was consumed, counted on this machine from the ledger. Charts by uPlot.
import { useEffect, useRef, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import { commands, events, type CommandError, type UsageQuery, type UsageView, type Point } from "../bindings";
import { ErrorNote } from "../components/error-note";
import { usd } from "../lib/money";

const CLASSES = ["input", "output", "cache_read", "cache_write"] as const;
// Readable on the light and the dark theme alike.
const COLORS = ["#6172f3", "#f2c14e", "#12b76a", "#ee46bc", "#f97066", "#0ba5ec"];

/** Tick labels: days as "Nov 30" (never hours) on a daily chart, hours as "14:00" (with the
 * date at midnight) on an hourly one. */
function tickLabels(hourly: boolean) {
  return (_u: unknown, ticks: number[]) =>
    ticks.map((t) => {
      const d = new Date(t * 1000);
      const day = d.toLocaleDateString([], { month: "short", day: "numeric" });
      if (!hourly) return day;
      const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      return d.getHours() === 0 && d.getMinutes() === 0 ? `${time}\n${day}` : time;
    });
}

/** Where the time axis has its ticks: on bucket starts only (local midnights, local hour starts),
 * every `stride`-th, the stride the smallest that fits `room` labels. uPlot's own day ticks fall
 * on UTC midnights, so west of UTC a day's label sat under the next day's bar. Days count back
 * from the newest (today always has its label); hours keep to multiples of the stride. */
export function ticksFor(xs: number[], hourly: boolean, room: number): number[] {
  const strides = hourly ? [1, 2, 3, 6, 12, 24] : [1, 2, 3, 7, 14];
  const fit = Math.max(1, room);
  const stride = strides.find((s) => Math.ceil(xs.length / s) <= fit) ?? strides[strides.length - 1];
  if (hourly) return xs.filter((t) => new Date(t * 1000).getHours() % stride === 0);
  return xs.filter((_, i) => (xs.length - 1 - i) % stride === 0);
}

/** A bucket's start as epoch seconds: local dates and local hour starts, as the core names them. */
export function bucketTime(bucket: string): number {
  const [d, t] = bucket.split("T");
  const [y, m, day] = d.split("-").map(Number);
  const [hh, mm] = (t ?? "00:00").split(":").map(Number);
  return new Date(y, m - 1, day, hh, mm).getTime() / 1000;
}

/** Per-bucket sums of a measure over the points (of one agent, or all), on every bucket of the
 * range: a bucket with nothing is 0, a gap on the time axis. */
export function sums(buckets: string[], points: Point[], pick: (p: Point) => number, agent?: string): number[] {
  const at = new Map(buckets.map((b, i) => [b, i]));
  const out = buckets.map(() => 0);
  for (const p of points) {
    const i = at.get(p.bucket);
    if (i !== undefined && (!agent || p.agent === agent)) out[i] += pick(p);
  }
  return out;
}

function compact(n: number): string {
  return Math.abs(n) >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : Math.abs(n) >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : `${+n.toFixed(2)}`;
}

function Chart({
  title,
  id,
  buckets,
  hourly,
  series,
  money,
}: {
  title: string;
  id: string;
  buckets: string[];
  hourly: boolean;
  series: { name: string; values: number[] }[];
  money?: boolean;
}) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current || buckets.length === 0) return;
    const xs = buckets.map(bucketTime);
    // Stacked bars: each series is drawn as the running total of itself and those below it,
    // the tallest first, so every class shows as its own band.
    const stacked: number[][] = [];
    series.forEach((s, k) => stacked.push(s.values.map((v, i) => v + (k ? stacked[k - 1][i] : 0))));
    let plot: { destroy(): void; setSize(s: { width: number; height: number }): void } | null = null;
    let ticks: number[] = [];
    let labels: string[] = [];
    let cancelled = false;
    const fmt = (v: number) => (money ? usd(v.toFixed(9).replace(/\.?0+$/, "")) : compact(v));
    const observer = new ResizeObserver(() => plot?.setSize({ width: el.current?.clientWidth || 560, height: 220 }));
    // Loaded on first use: a charting failure must not take the rest of the window with it.
    import("uplot").then(({ default: uPlot }) => {
      if (cancelled || !el.current) return;
      const bars = uPlot.paths.bars!({ size: [0.7, 40], align: 0 });
      const order = series.map((_, k) => series.length - 1 - k);
      plot = new uPlot(
        {
          width: el.current.clientWidth || 560,
          height: 220,
          scales: { x: { time: true, range: (_u, min, max) => [min - (hourly ? 1800 : 43200), max + (hourly ? 1800 : 43200)] } },
          axes: [
            {
              splits: (u) => (ticks = ticksFor(xs, hourly, Math.floor(u.bbox.width / devicePixelRatio / 64))),
              values: (u, t) => (labels = tickLabels(hourly)(u, t)),
              stroke: getComputedStyle(document.documentElement).color,
            },
            { size: 72, values: (_u, ticks) => ticks.map(fmt), stroke: getComputedStyle(document.documentElement).color },
          ],
          legend: { live: true },
          // Where each tick is drawn and what it reads (the canvas has no text to find), for
          // the end-to-end test that a day's label sits on that day's bar.
          hooks: {
            draw: [
              (u) => {
                if (el.current)
                  el.current.dataset.ticks = JSON.stringify(ticks.map((t, i) => ({ left: u.valToPos(t, "x"), label: labels[i] ?? "" })));
              },
            ],
          },
          series: [
            { label: hourly ? "Hour" : "Day", value: (_u, v) => (v == null ? "" : new Date(v * 1000).toLocaleString([], hourly ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "medium" })) },
            ...order.map((k) => ({
              label: series[k].name,
              stroke: COLORS[k % COLORS.length],
              fill: COLORS[k % COLORS.length],
              width: 0,
              paths: bars,
              points: { show: false },
              // The legend shows this series' own value, not the running total.
              value: (_u: unknown, _v: number, _s: number, i: number | null) => (i == null ? "" : fmt(series[k].values[i])),
            })),
          ],
        },
        [xs, ...order.map((k) => stacked[k])],
        el.current,
      );
      observer.observe(el.current);
    });
    return () => {
      cancelled = true;
      observer.disconnect();
      plot?.destroy();
    };
  }, [JSON.stringify(buckets), JSON.stringify(series), hourly]);
  return (
    <div class="chart" id={id}>
      <h3>{title}</h3>
      <div ref={el} />
    </div>
  );
}

const PAGE = 25;

export function Usage() {
  const [query, setQuery] = useState<UsageQuery>({ range: "7d", since: null, until: null, resolution: "day", agent: null, filter: {} });
  const [view, setView] = useState<UsageView | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  const [exported, setExported] = useState<string | null>(null);
  const [page, setPage] = useState(0);

  // A custom range needs both dates: until then nothing old is left on screen.
  const incomplete = query.range === "custom" && (!query.since || !query.until);
  const load = async (q: UsageQuery) => {
    if (q.range === "custom" && (!q.since || !q.until)) {
      setView(null);
      return;
    }
    const r = await commands.usageView(q);
    if (r.status === "ok") {
      setView(r.data);
      setError(null);
    } else {
      setView(null);
      setError(r.error);
    }
  };
  useEffect(() => {
    load(query);
    const stop = events.ledgerChanged.listen(() => load(query));
    return () => {
      stop.then((u) => u());
    };
  }, [JSON.stringify(query)]);

  const set = (patch: Partial<UsageQuery>) => {
    setPage(0);
    setQuery({ ...query, ...patch });
  };
  const setFilter = (k: string, v: string) => set({ filter: { ...query.filter, [k]: v || null } });
  const doExport = async (format: "csv" | "json") => {
    setExported(null);
    const r = await commands.usageExport(query, format);
    if (r.status === "ok") {
      if (r.data) {
        setExported(`${r.data.rows} rows written to ${r.data.path}.`);
        setTimeout(() => setExported(null), 8000);
      }
    } else setError(r.error);
  };

  const points = view?.series ?? [];
  const buckets = view?.buckets ?? [];
  const hourly = query.resolution === "hour";
  const agents = Array.from(new Set(points.map((p) => p.agent))).sort();
  const tokenSeries = CLASSES.map((c) => ({ name: c.replace("_", " "), values: sums(buckets, points, (p) => p.tokens[c]) }));
  const costSeries = agents.map((a) => ({ name: a, values: sums(buckets, points, (p) => Number(p.cost_usd), a) }));
  const total = view?.totals ?? { cost_usd: "0", requests: 0, failures: 0, tokens: 0, unknown_cost: 0 };
  const recent = view?.recent ?? [];
  const pages = Math.max(1, Math.ceil(recent.length / PAGE));

  return (
    <section class="card wide" id="usage">
      <h2>Usage</h2>
      <p class="fine" id="usage-note">
        These are the tokens counted on this machine, at the prices configured in Keyhold. Your provider's invoice is the
        authority; Keyhold never shows a balance it cannot know.
      </p>
      <div class="row">
        <select id="usage-range" value={query.range} onChange={(e) => set({ range: (e.target as HTMLSelectElement).value })}>
          <option value="24h">Last 24 hours</option>
          <option value="7d">Last 7 days</option>
          <option value="30d">Last 30 days</option>
          <option value="custom">Custom</option>
        </select>
        {query.range === "custom" && (
          <>
            <input id="usage-since" type="date" value={query.since ?? ""} onChange={(e) => set({ since: (e.target as HTMLInputElement).value || null })} />
            <input id="usage-until" type="date" value={query.until ?? ""} onChange={(e) => set({ until: (e.target as HTMLInputElement).value || null })} />
          </>
        )}
        <select id="usage-resolution" value={query.resolution} onChange={(e) => set({ resolution: (e.target as HTMLSelectElement).value as "hour" | "day" })}>
          <option value="day">By day</option>
          <option value="hour">By hour</option>
        </select>
        <select id="usage-agent" value={query.agent ?? ""} onChange={(e) => set({ agent: (e.target as HTMLSelectElement).value || null })}>
          <option value="">All agents</option>
          {view?.budgets.map((b) => (
            <option key={b.agent} value={b.agent}>
              {b.agent}
            </option>
          ))}
        </select>
        <button class="secondary" id="export-csv" onClick={() => doExport("csv")}>
          Export CSV
        </button>
        <button class="secondary" id="export-json" onClick={() => doExport("json")}>
          Export JSON
        </button>
      </div>
      <ErrorNote error={error} />
      {exported && (
        <p class="ok" role="status" id="export-done">
          {exported}
        </p>
      )}

      <h3>Today against each budget</h3>
      <ul class="tokens" id="usage-budgets">
        {view?.budgets.map((b) => (
          <li key={b.agent}>
            <strong>{b.agent}</strong> <span title={`${b.spent_usd} USD`}>{usd(b.spent_usd)}</span>
            {b.budget_usd ? ` of ${usd(b.budget_usd)} (${b.percent} %)` : " (no budget)"}
          </li>
        ))}
      </ul>

      {incomplete && (
        <p class="empty" id="usage-choose-dates">
          Choose both dates of the custom range.
        </p>
      )}
      {view && (
        <div class="totals" id="usage-totals">
          <div>
            <span class="tile-label">Spent</span>
            <strong title={`${total.cost_usd} USD`}>{usd(total.cost_usd)}</strong>
          </div>
          <div>
            <span class="tile-label">Requests</span>
            <strong>{total.requests.toLocaleString()}</strong>
          </div>
          <div>
            <span class="tile-label">Failed</span>
            <strong>{total.requests ? `${Math.round((total.failures / total.requests) * 100)} %` : "–"}</strong>
          </div>
          <div>
            <span class="tile-label">Tokens</span>
            <strong>{total.tokens.toLocaleString()}</strong>
          </div>
        </div>
      )}
      {view && points.length === 0 ? (
        <p class="empty" id="usage-empty">
          No usage recorded in this range.
        </p>
      ) : (
        view && (
          <>
            <Chart title="Tokens by class" id="chart-tokens" buckets={buckets} hourly={hourly} series={tokenSeries} />
            <Chart title="Cost by agent" id="chart-cost" buckets={buckets} hourly={hourly} series={costSeries} money />
          </>
        )
      )}

      {view && view.anomalies.length > 0 && (
        <>
          <h3>Worth a look</h3>
          <ul class="tokens" id="usage-anomalies">
            {view.anomalies.map((a, i) => (
              <li key={i} class="warning">
                {a.message}
              </li>
            ))}
          </ul>
        </>
      )}

      <h3>By provider and model</h3>
      <table class="prices" id="usage-breakdown">
        <thead>
          <tr>
            <th>Provider</th>
            <th>Model</th>
            <th>Where</th>
            <th>Requests</th>
            <th>In</th>
            <th>Out</th>
            <th>Cache read</th>
            <th>Cache write</th>
            <th>Cost</th>
          </tr>
        </thead>
        <tbody>
          {view?.breakdown.map((s) => (
            <tr key={`${s.provider}-${s.model}-${s.local}`}>
              <td>{s.provider}</td>
              <td>{s.model}</td>
              <td>{s.local ? "local" : "cloud"}</td>
              <td>{s.requests}</td>
              <td>{s.tokens.input}</td>
              <td>{s.tokens.output}</td>
              <td>{s.tokens.cache_read}</td>
              <td>{s.tokens.cache_write}</td>
              <td title={`${s.cost_usd} USD`}>{usd(s.cost_usd)}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h3>Recent requests</h3>
      <div class="row">
        <input placeholder="provider" onChange={(e) => setFilter("provider", (e.target as HTMLInputElement).value)} />
        <input placeholder="model" onChange={(e) => setFilter("model", (e.target as HTMLInputElement).value)} />
        <select id="usage-outcome" onChange={(e) => setFilter("outcome", (e.target as HTMLSelectElement).value)}>
          <option value="">Any outcome</option>
          <option value="ok">ok</option>
          <option value="failed">failed</option>
        </select>
        <select onChange={(e) => setFilter("mode", (e.target as HTMLSelectElement).value)}>
          <option value="">Any mode</option>
          <option value="agent">agent</option>
          <option value="proxy">proxy</option>
        </select>
      </div>
      <table class="prices" id="usage-recent">
        <thead>
          <tr>
            <th>Time</th>
            <th>Agent</th>
            <th>Mode</th>
            <th>Step</th>
            <th>Provider · model</th>
            <th>Outcome</th>
            <th>In/out/cache</th>
            <th>Cost</th>
            <th>Latency</th>
            <th>Where</th>
            <th title="What was replaced before the request left this machine">Replaced</th>
          </tr>
        </thead>
        <tbody>
          {recent.slice(page * PAGE, page * PAGE + PAGE).map((r, i) => (
            <tr key={i}>
              <td>{new Date(r.time).toLocaleString()}</td>
              <td>{r.agent}</td>
              <td>{r.mode}</td>
              <td>{r.step}</td>
              <td>
                {r.provider} · {r.model}
              </td>
              <td>{r.outcome}</td>
              <td>
                {r.input_tokens}/{r.output_tokens}/{r.cache_read_tokens}+{r.cache_write_tokens}
                {r.estimated ? " est." : ""}
              </td>
              <td title={r.cost_usd ? `${r.cost_usd} USD${r.tools ? `, including the provider's fees for ${toolsText(r.tools)}` : ""}` : ""}>
                {r.cost_usd === "" ? "unknown" : usd(r.cost_usd)}
                {r.tools && <span class="fine tools"> incl. {toolsText(r.tools)}</span>}
              </td>
              <td>{r.latency_ms} ms</td>
              <td>{r.local ? "local" : "cloud"}</td>
              <td class="replaced">{r.redacted ? r.redacted.replace(/_/g, " ").replace(/:/g, " ").split(" ").join(" ") : "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {recent.length > PAGE && (
        <div class="pager" id="usage-pager">
          <button class="secondary" disabled={page === 0} onClick={() => setPage(page - 1)}>
            Newer
          </button>
          <span>
            {page * PAGE + 1}–{Math.min(recent.length, page * PAGE + PAGE)} of the {recent.length} newest
          </span>
          <button class="secondary" disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>
            Older
          </button>
        </div>
      )}
    </section>
  );
}

/** `web_search:2 file_search:1` as people read it: "2 web searches, 1 file search". */
export function toolsText(tools: string): string {
  const names: Record<string, [string, string]> = {
    web_search: ["web search", "web searches"],
    web_fetch: ["web fetch", "web fetches"],
    file_search: ["file search", "file searches"],
  };
  return tools
    .split(" ")
    .filter((w) => w.includes(":"))
    .map((w) => {
      const [tool, n] = w.split(":");
      const [one, many] = names[tool] ?? [tool.replace(/_/g, " "), tool.replace(/_/g, " ")];
      return `${n} ${n === "1" ? one : many}`;
    })
    .join(", ");
}
