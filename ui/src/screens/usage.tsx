// Usage: what was consumed, counted on this machine from the ledger. Charts by uPlot.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import { commands, events, type CommandError, type UsageQuery, type UsageView, type Point } from "../bindings";
import { ErrorNote } from "../components/error-note";
import { tokens, usd } from "../lib/money";

const CLASSES = ["input", "output", "cache_read", "cache_write"] as const;
// Readable on the light and the dark theme alike.
const COLORS = ["#6172f3", "#f2c14e", "#12b76a", "#ee46bc", "#f97066", "#0ba5ec"];

// Formatters made once: Intl builds one per toLocale…String call otherwise, for every tick,
// legend move and table row.
const DAY = new Intl.DateTimeFormat([], { month: "short", day: "numeric" });
const TIME = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
const DAY_LONG = new Intl.DateTimeFormat([], { dateStyle: "medium" });
const HOUR_LONG = new Intl.DateTimeFormat([], { dateStyle: "medium", timeStyle: "short" });

/** Tick labels: days as "Nov 30" (never hours) on a daily chart, hours as "14:00" (with the
 * date at midnight) on an hourly one. */
function tickLabels(hourly: boolean) {
  return (_u: unknown, ticks: number[]) =>
    ticks.map((t) => {
      const d = new Date(t * 1000);
      const day = DAY.format(d);
      if (!hourly) return day;
      const time = TIME.format(d);
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

type Plot = {
  destroy(): void;
  setSize(s: { width: number; height: number }): void;
  setData(data: [number[], ...number[][]]): void;
  root: HTMLElement;
};

/** Stacked bars: each series is drawn as the running total of itself and those below it, the
 * tallest first, so every class shows as its own band. */
function plotData(xs: number[], series: { values: number[] }[]): [number[], ...number[][]] {
  const stacked: number[][] = [];
  series.forEach((s, k) => stacked.push(s.values.map((v, i) => v + (k ? stacked[k - 1][i] : 0))));
  return [xs, ...series.map((_, k) => stacked[series.length - 1 - k])];
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
  const plot = useRef<Plot | null>(null);
  // What the plot's callbacks read: always the newest data, so a new range is fed into the same
  // plot (setData) instead of a plot built again (~45 ms each in WebKitGTK).
  const latest = useRef({ xs: [] as number[], hourly, series });
  const shape = series.map((s) => s.name).join("|");
  const empty = buckets.length === 0;

  // Before the frame is painted: the new numbers and the new bars show together.
  useLayoutEffect(() => {
    latest.current = { xs: buckets.map(bucketTime), hourly, series };
    const p = plot.current;
    if (!p) return;
    p.setData(plotData(latest.current.xs, series));
    const label = p.root.querySelector(".u-legend .u-series:first-child .u-label");
    if (label) label.textContent = hourly ? "Hour" : "Day";
  }, [JSON.stringify(buckets), JSON.stringify(series), hourly]);

  // Built when the chart first has data or its series change (another agent's breakdown).
  useEffect(() => {
    if (!el.current || empty) return;
    let ticks: number[] = [];
    let labels: string[] = [];
    let cancelled = false;
    const fmt = (v: number) => (money ? usd(v.toFixed(9).replace(/\.?0+$/, "")) : compact(v));
    const observer = new ResizeObserver(() => plot.current?.setSize({ width: el.current?.clientWidth || 560, height: 220 }));
    // Loaded on first use: a charting failure must not take the rest of the window with it.
    import("uplot").then(({ default: uPlot }) => {
      if (cancelled || !el.current) return;
      const bars = uPlot.paths.bars!({ size: [0.7, 40], align: 0 });
      const names = latest.current.series.map((s) => s.name);
      const order = names.map((_, k) => names.length - 1 - k);
      const half = () => (latest.current.hourly ? 1800 : 43200);
      plot.current = new uPlot(
        {
          width: el.current.clientWidth || 560,
          height: 220,
          scales: { x: { time: true, range: (_u, min, max) => [min - half(), max + half()] } },
          axes: [
            {
              splits: (u) =>
                (ticks = ticksFor(latest.current.xs, latest.current.hourly, Math.floor(u.bbox.width / devicePixelRatio / 64))),
              values: (u, t) => (labels = tickLabels(latest.current.hourly)(u, t)),
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
                if (!el.current) return;
                el.current.dataset.ticks = JSON.stringify(ticks.map((t, i) => ({ left: u.valToPos(t, "x"), label: labels[i] ?? "" })));
                // How many bars were drawn: the test waits for a new range's before it reads ticks.
                el.current.dataset.buckets = String(latest.current.xs.length);
              },
            ],
          },
          series: [
            {
              label: latest.current.hourly ? "Hour" : "Day",
              value: (_u, v) => (v == null ? "" : (latest.current.hourly ? HOUR_LONG : DAY_LONG).format(new Date(v * 1000))),
            },
            ...order.map((k) => ({
              label: names[k],
              stroke: COLORS[k % COLORS.length],
              fill: COLORS[k % COLORS.length],
              width: 0,
              paths: bars,
              points: { show: false },
              // The legend shows this series' own value, not the running total.
              value: (_u: unknown, _v: number, _s: number, i: number | null) =>
                i == null ? "" : fmt(latest.current.series[k]?.values[i] ?? 0),
            })),
          ],
        },
        plotData(latest.current.xs, latest.current.series),
        el.current,
      ) as unknown as Plot;
      observer.observe(el.current);
    });
    return () => {
      cancelled = true;
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, empty]);
  return (
    <div class="chart" id={id}>
      <h3>{title}</h3>
      <div ref={el} />
    </div>
  );
}

const PAGE = 25;

/** A time in the requests table: the hour today, the day and hour before (the full date and
 * time on hover). */
export function when(iso: string, now = new Date()): string {
  const t = new Date(iso);
  const time = TIME.format(t);
  return t.toDateString() === now.toDateString() ? time : `${DAY.format(t)}, ${time}`;
}

/** Shows the secondary columns a narrow window hides (wide windows show them all anyway). */
export function ColumnsToggle({ id, all, set }: { id: string; all: boolean; set: (v: boolean) => void }) {
  return (
    <button type="button" class="secondary small columns-toggle" id={id} aria-pressed={all} onClick={() => set(!all)}>
      {all ? "Fewer columns" : "All columns"}
    </button>
  );
}

export function Usage() {
  const [query, setQuery] = useState<UsageQuery>({ range: "7d", since: null, until: null, resolution: "day", agent: null, filter: {} });
  const [view, setView] = useState<UsageView | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  const [exported, setExported] = useState<string | null>(null);
  const [page, setPage] = useState(0);
  const [allColumns, setAllColumns] = useState(false);

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

      <div class="table-head">
        <h3>By provider and model</h3>
        <ColumnsToggle id="usage-breakdown-columns" all={allColumns} set={setAllColumns} />
      </div>
      <table class={`prices fit${allColumns ? " all" : ""}`} id="usage-breakdown">
        <thead>
          <tr>
            <th class="primary">Provider · model</th>
            <th class="primary num">Requests</th>
            <th class="more num">In</th>
            <th class="more num">Out</th>
            <th class="more num">Cache read</th>
            <th class="more num">Cache write</th>
            <th class="primary num">Cost</th>
          </tr>
        </thead>
        <tbody>
          {view?.breakdown.map((s) => (
            <tr key={`${s.provider}-${s.model}-${s.local}`}>
              <td class="wrap">
                {s.provider} · {s.model}
                {s.local && <span class="fine"> on this machine</span>}
              </td>
              <td class="num">{tokens(s.requests)}</td>
              <td class="more num">{tokens(s.tokens.input)}</td>
              <td class="more num">{tokens(s.tokens.output)}</td>
              <td class="more num">{tokens(s.tokens.cache_read)}</td>
              <td class="more num">{tokens(s.tokens.cache_write)}</td>
              <td class="num cost" title={`${s.cost_usd} USD`}>
                {usd(s.cost_usd)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>

      <div class="table-head">
        <h3>Recent requests</h3>
        <ColumnsToggle id="usage-recent-columns" all={allColumns} set={setAllColumns} />
      </div>
      <div class="row">
        <input placeholder="provider" aria-label="Filter by provider" onChange={(e) => setFilter("provider", (e.target as HTMLInputElement).value)} />
        <input placeholder="model" aria-label="Filter by model" onChange={(e) => setFilter("model", (e.target as HTMLInputElement).value)} />
        <select id="usage-outcome" aria-label="Filter by outcome" onChange={(e) => setFilter("outcome", (e.target as HTMLSelectElement).value)}>
          <option value="">Any outcome</option>
          <option value="ok">answered</option>
          <option value="failed">failed</option>
        </select>
        <select aria-label="Filter by mode" onChange={(e) => setFilter("mode", (e.target as HTMLSelectElement).value)}>
          <option value="">Chat and proxy</option>
          <option value="agent">chat (agent)</option>
          <option value="proxy">proxy</option>
        </select>
      </div>
      <table class={`prices fit${allColumns ? " all" : ""}`} id="usage-recent">
        <thead>
          <tr>
            <th class="primary">Time</th>
            <th class="primary">Agent</th>
            <th class="primary">Provider · model</th>
            <th class="primary">Outcome</th>
            <th class="more num">Tokens in / out / cached</th>
            <th class="primary num">Cost</th>
            <th class="more num">Latency</th>
            <th class="more" title="What was replaced before the request left this machine">
              Replaced
            </th>
          </tr>
        </thead>
        <tbody>
          {recent.slice(page * PAGE, page * PAGE + PAGE).map((r, i) => {
            const outcome = view?.outcomes.find((o) => o.code === r.outcome);
            return (
              <tr key={i}>
                <td title={new Date(r.time).toLocaleString()}>{when(r.time)}</td>
                <td class="wrap">
                  {r.agent}
                  <span class="fine"> {r.mode === "proxy" ? "proxy" : "chat"}</span>
                </td>
                <td class="wrap">
                  {r.provider} · {r.model}
                  {(r.step > 0 || r.local) && (
                    <span class="fine">
                      {r.step > 0 ? ` fallback step ${r.step}` : ""}
                      {r.local ? " on this machine" : ""}
                    </span>
                  )}
                </td>
                <td class={`wrap outcome${outcome?.failed ? " failed" : ""}`} title={r.outcome}>
                  {outcome?.words ?? r.outcome}
                </td>
                <td class="more num">
                  {tokens(r.input_tokens)} / {tokens(r.output_tokens)} / {tokens(r.cache_read_tokens + r.cache_write_tokens)}
                  {r.estimated ? " est." : ""}
                </td>
                <td
                  class="num cost"
                  title={r.cost_usd ? `${r.cost_usd} USD${r.tools ? `, including the provider's fees for ${toolsText(r.tools)}` : ""}` : ""}
                >
                  {r.cost_usd === "" ? "unknown" : usd(r.cost_usd)}
                  {r.tools && <span class="fine tools"> incl. {toolsText(r.tools)}</span>}
                </td>
                <td class="more num">{tokens(r.latency_ms)} ms</td>
                <td class="more replaced">{r.redacted ? r.redacted.replace(/_/g, " ").replace(/:/g, " ") : "–"}</td>
              </tr>
            );
          })}
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
