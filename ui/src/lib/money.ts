import type { BudgetState } from "../bindings";

// Money as people write it. The core sends exact decimal strings (nano-dollar precision); the
// window shows cents for amounts of a cent or more and four significant digits below, and keeps
// the exact value for a tooltip.

/** `$1.41`, `$0.50`, `$0.0121`, `$0.00000525`, `$0`: cents from ten cents up, three significant
 * digits below. Exact decimal input, string arithmetic (no floats). */
export function usd(exact: string | null | undefined): string {
  if (exact === null || exact === undefined || exact === "") return "unknown";
  const negative = exact.startsWith("-");
  const digits = negative ? exact.slice(1) : exact;
  const [whole, frac = ""] = digits.split(".");
  const sign = negative ? "-" : "";
  if (whole !== "0" || (frac[0] ?? "0") !== "0") {
    // A cent or more: round half up to cents, by string arithmetic.
    const cents = BigInt(whole + (frac + "00").slice(0, 2)) + (Number((frac + "000")[2]) >= 5 ? 1n : 0n);
    const s = cents.toString().padStart(3, "0");
    const dollars = s.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return `${sign}$${dollars}.${s.slice(-2)}`;
  }
  const significant = frac.replace(/0+$/, "");
  if (significant === "") return "$0";
  // Below ten cents: three significant digits, rounded half up.
  const lead = significant.match(/^0*/)![0].length;
  let kept = BigInt(significant.slice(lead, lead + 3).padEnd(3, "0"));
  if (Number(significant[lead + 3] ?? "0") >= 5) kept += 1n;
  const width = lead + 3;
  const shown = kept.toString().length > 3 ? (kept / 10n).toString().padStart(width - 1, "0") : kept.toString().padStart(width, "0");
  return `${sign}$0.${shown.replace(/0+$/, "") || "0"}`;
}

/** How the core's budget state looks: words and a class for colour. The thresholds are the
 * core's (`BudgetState`); this only shows them. */
export function budgetLook(state: BudgetState, percent: number | null | undefined): { tone: "ok" | "near" | "over"; words: string } {
  const p = percent ?? 0;
  switch (state) {
    case "over":
      return { tone: "over", words: `over budget (${p} %)` };
    case "near":
      return { tone: "near", words: `near the budget (${p} %)` };
    case "within":
    case "no_budget":
      return { tone: "ok", words: `${p} % of the budget` };
    default: {
      const unplaced: never = state;
      return unplaced;
    }
  }
}

/** A token count as people read it: `627,092` (the user's separators). */
export function tokens(n: number | null | undefined): string {
  return n === null || n === undefined ? "unknown" : Math.round(n).toLocaleString();
}
