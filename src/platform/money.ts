import { Decimal } from 'decimal.js';

/** Money is a decimal string end to end; Decimal is only used for arithmetic. */
Decimal.set({ precision: 60, rounding: Decimal.ROUND_HALF_UP, toExpNeg: -40, toExpPos: 60 });

export { Decimal };

const DECIMAL_RE = /^(?:0|[1-9]\d*)(?:\.\d+)?$/;

export function isDecimalString(s: string): boolean {
  return DECIMAL_RE.test(s);
}

export function decimalPlaces(s: string): number {
  const dot = s.indexOf('.');
  return dot < 0 ? 0 : s.length - dot - 1;
}

/** Fixed-point text with exactly `dp` decimals, e.g. fixed("0.88", 8) = "0.88000000". */
export function fixed(v: Decimal.Value, dp = 8, rounding: Decimal.Rounding = Decimal.ROUND_HALF_UP): string {
  return new Decimal(v).toFixed(dp, rounding);
}
