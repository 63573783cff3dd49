import { err, ok, type Result } from '../../platform/errors.ts';
import { Decimal } from '../../platform/money.ts';
import type { PriceSource } from '../../prices/service.ts';
import type { ContractTerms } from './schemas.ts';

/**
 * The rules of a contract's terms that tie fields together (binance-pay-extended.md §14.2), shared by the create
 * call and `directDebitContract` on create order (§14.9), and the period windows of a periodic contract (§14.7).
 */
export const DAY_MS = 86_400_000;
/** §14.2 Decision: an unsigned request may be signed for 1 hour by default, at most 7 days. */
export const DEFAULT_REQUEST_MS = 3_600_000;
export const MAX_REQUEST_MS = 7 * DAY_MS;
/** §14.2: a contract runs 1095 days by default and at most. */
export const MAX_CONTRACT_MS = 1095 * DAY_MS;
/** A DAY cycle is more than 7 days (§14.2); Decision: at most a contract's longest life. */
const MAX_DAY_CYCLE = 1095;

type TermsError = 'FIELD_MISSING' | 'FIELD_VALUE';

export function checkTerms(
  t: ContractTerms & { currency: string },
  ctx: { now: number; limitUsd: string; prices: PriceSource },
): Result<void, TermsError> {
  if (t.periodic) {
    for (const f of ['cycleDebitFixed', 'cycleType', 'cycleValue', 'firstDeductTime'] as const)
      if (t[f] == null) return err('FIELD_MISSING', `${f}: is required for a periodic contract`);
    const cycleValue = Number(t.cycleValue);
    if (t.cycleType === 'MONTH' && !(cycleValue >= 1 && cycleValue <= 24))
      return err('FIELD_VALUE', 'cycleValue: must be 1-24 for MONTH');
    if (t.cycleType === 'DAY' && !(cycleValue > 7 && cycleValue <= MAX_DAY_CYCLE))
      return err('FIELD_VALUE', `cycleValue: must be more than 7 (and at most ${MAX_DAY_CYCLE}) for DAY`);
    const first = Number(t.firstDeductTime);
    if (!(first > ctx.now)) return err('FIELD_VALUE', 'firstDeductTime: must be in the future');
    if (t.cycleType === 'MONTH' && new Date(first).getUTCDate() > 28)
      return err('FIELD_VALUE', 'firstDeductTime: the day of month must be at most 28 for MONTH');
    if (t.contractEndTime != null && first >= Number(t.contractEndTime))
      return err('FIELD_VALUE', 'firstDeductTime: must be before contractEndTime');
  }
  if (t.contractEndTime != null) {
    const end = Number(t.contractEndTime);
    if (!(end > ctx.now && end <= ctx.now + MAX_CONTRACT_MS))
      return err('FIELD_VALUE', 'contractEndTime: must be in the future and at most 1095 days ahead');
  }
  const usd = ctx.prices.cryptoUsd(t.currency);
  if (!usd) return err('FIELD_VALUE', `currency: no price for ${t.currency}`);
  if (new Decimal(t.singleUpperLimit).mul(usd).gt(ctx.limitUsd))
    return err('FIELD_VALUE', `singleUpperLimit: exceeds the scenario limit of ${ctx.limitUsd} USD`);
  return ok(undefined);
}

/**
 * The period window `now` falls in, counted from 0 at firstDeductTime (−1 before it): windows of cycleValue days, or
 * of cycleValue calendar months in UTC (the day of month is at most 28, so every month has it).
 */
export function periodIndex(
  c: { cycleType: 'MONTH' | 'DAY'; cycleValue: number; firstDeductTime: number },
  now: number,
): number {
  if (now < c.firstDeductTime) return -1;
  if (c.cycleType === 'DAY') return Math.floor((now - c.firstDeductTime) / (c.cycleValue * DAY_MS));
  const f = new Date(c.firstDeductTime);
  const n = new Date(now);
  const start = (k: number) =>
    Date.UTC(
      f.getUTCFullYear(),
      f.getUTCMonth() + k * c.cycleValue,
      f.getUTCDate(),
      f.getUTCHours(),
      f.getUTCMinutes(),
      f.getUTCSeconds(),
      f.getUTCMilliseconds(),
    );
  const months = (n.getUTCFullYear() - f.getUTCFullYear()) * 12 + (n.getUTCMonth() - f.getUTCMonth());
  let k = Math.floor(months / c.cycleValue);
  while (start(k) > now) k--;
  while (start(k + 1) <= now) k++;
  return k;
}
