import { describe, expect, it } from "vitest";
import { budgetLook, tokens, usd } from "./money";

describe("money", () => {
  it("reads as people write it", () => {
    expect(usd("1.41010355")).toBe("$1.41");
    expect(usd("0.5")).toBe("$0.50");
    expect(usd("1234.005")).toBe("$1,234.01");
    expect(usd("0.0121")).toBe("$0.0121");
    expect(usd("0.00000525")).toBe("$0.00000525");
    expect(usd("0.000012345678")).toBe("$0.0000123");
    expect(usd("0.0999999")).toBe("$0.1");
    expect(usd("0")).toBe("$0");
    expect(usd("")).toBe("unknown");
    expect(usd("0.01")).toBe("$0.01");
    expect(usd("0.009994")).toBe("$0.00999");
  });

  it("says near and over in words", () => {
    expect(budgetLook("within", 25).tone).toBe("ok");
    expect(budgetLook("near", 80)).toEqual({ tone: "near", words: "near the budget (80 %)" });
    expect(budgetLook("over", 282)).toEqual({ tone: "over", words: "over budget (282 %)" });
  });

  it("writes token counts with separators", () => {
    expect(tokens(627092)).toBe((627092).toLocaleString());
    expect(tokens(627092)).not.toBe("627092");
    expect(tokens(null)).toBe("unknown");
  });
});
