// Usage: what was consumed, counted on this machine from the ledger. Charts by uPlot.
import { useEffect, useRef, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import { commands, events, type CommandError, type UsageQuery, type UsageView, type Point } from "../bindings";
import { ErrorNote } from "../components/error-note";

const CLASSES = ["input", "output", "cache_read", "cache_write"] as const;
const COLORS = ["#1f2a44", "#f2c14e", "#12b76a", "#7a5af8", "#d92d20", "#0ba5ec"];

/** Buckets in order, and per-bucket sums of a measure over the chosen points. */
function columns(points: Point[], pick: (p: Point) => number, agent?: string): [string[], number[]] {
  const buckets = Array.from(new Set(points.map((p) => p.bucket))).sort();
  const sums = buckets.map((b) => points.filter((p) => p.bucket === b && (!agent || p.agent === agent)).reduce((s, p) => s + pick(p), 0));
  return [buckets, sums];
}

function Chart({ title, id, labels, series }: { title: string; id: string; labels: string[]; series: { name: string; values: number[] }[] }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current || labels.length === 0) return;
    const xs = labels.map((_, i) => i);
    let plot: { destroy(): void } | null = null;
    let cancelled = false;
    // Loaded on first use: a charting failure must not take the rest of the window with it.
    import("uplot").then(({ default: uPlot }) => {
      if (cancelled || !el.current) return;
      plot = new uPlot(
      {
        width: Math.min(el.current.clientWidth || 560, 760),
        height: 200,
        scales: { x: { time: false } },
        axes: [{ values: (_u, ticks) => ticks.map((t) => labels[t] ?? "") }, {}],
        series: [{}, ...series.map((s, i) => ({ label: s.name, stroke: COLORS[i % COLORS.length], fill: `${COLORS[i % COLORS.length]}33`, width: 2 }))],
      },
      [xs, ...series.map((s) => s.values)],
      el.current,
      );
    });
    return () => {
      cancelled = true;
      plot?.destroy();
    };
  }, [JSON.stringify(labels), JSON.stringify(series)]);
  return (
    <div class="chart" id={id}>
      <h3>{title}</h3>
      <div ref={el} />
    </div>
  );
}

export function Usage() {
  const [query, setQuery] = useState<UsageQuery>({ range: "7d", since: null, until: null, resolution: "day", agent: null, filter: {} });
  const [view, setView] = useState<UsageView | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  const [exported, setExported] = useState<string | null>(null);

  const load = async (q: UsageQuery) => {
    const r = await commands.usageView(q);
    if (r.status === "ok") {
      setView(r.data);
      setError(null);
    } else setError(r.error);
  };
  useEffect(() => {
    load(query);
    const stop = events.ledgerChanged.listen(() => load(query));
    return () => {
      stop.then((u) => u());
    };
  }, [JSON.stringify(query)]);

  const set = (patch: Partial<UsageQuery>) => setQuery({ ...query, ...patch });
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
  const agents = Array.from(new Set(points.map((p) => p.agent))).sort();
  const [labels] = columns(points, () => 0);
  // Tokens stacked by class: each series is the running sum of the classes below it.
  let running = labels.map(() => 0);
  const tokenSeries = CLASSES.map((c) => {
    const [, v] = columns(points, (p) => p.tokens[c]);
    running = running.map((r, i) => r + v[i]);
    return { name: c.replace("_", " "), values: running.slice() };
  });
  const costSeries = agents.map((a) => ({ name: a, values: columns(points, (p) => Number(p.cost_usd), a)[1] }));

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
            <strong>{b.agent}</strong> ${b.spent_usd}
            {b.budget_usd ? ` of $${b.budget_usd} (${b.percent} %)` : " (no budget)"}
          </li>
        ))}
      </ul>

      {view && points.length === 0 ? (
        <p class="empty" id="usage-empty">
          No usage recorded in this range.
        </p>
      ) : (
        <>
          <Chart title="Tokens by class" id="chart-tokens" labels={labels} series={tokenSeries} />
          <Chart title="Cost (USD) by agent" id="chart-cost" labels={labels} series={costSeries} />
        </>
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
            <th>Cost USD</th>
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
              <td>{s.cost_usd}</td>
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
            <th>Cost USD</th>
            <th>Latency</th>
            <th>Where</th>
            <th title="What was replaced before the request left this machine">Replaced</th>
          </tr>
        </thead>
        <tbody>
          {view?.recent.map((r, i) => (
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
              <td>{r.cost_usd === "" ? "unknown" : r.cost_usd}</td>
              <td>{r.latency_ms} ms</td>
              <td>{r.local ? "local" : "cloud"}</td>
              <td class="replaced">{r.redacted ? r.redacted.replace(/_/g, " ").replace(/:/g, " ").split(" ").join(" ") : "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
