import { createHash } from 'node:crypto';
import type { Clock } from '../platform/clock.ts';
import { Decimal } from '../platform/money.ts';

/**
 * Price source port: USD value of one unit of a crypto asset, and of one unit of a fiat currency.
 * The sandbox default walks reference prices on a seeded random walk (one step per business-clock minute),
 * so prices move but every run with the same seed sees the same path. Stablecoins stay at 1.
 */
export interface PriceSource {
  cryptoUsd(asset: string): string | null;
  fiatUsd(fiat: string): string | null;
}

const REFERENCE_USD: Record<string, string> = {
  USDT: '1',
  USDC: '1',
  BUSD: '1',
  BTC: '65000',
  ETH: '3200',
  BNB: '600',
  TRX: '0.12',
  XRP: '0.55',
  SOL: '150',
};
const STABLE = new Set(['USDT', 'USDC', 'BUSD']);

/** USD value of one unit of each fiat currency (sandbox FX table). */
const FIAT_USD: Record<string, string> = {
  USD: '1',
  EUR: '1.08',
  GBP: '1.27',
  AUD: '0.66',
  BRL: '0.18',
  TRY: '0.031',
  JPY: '0.0067',
  CAD: '0.73',
  CHF: '1.12',
};
/** ISO 4217 minor units of the supported fiat currencies. */
export const FIAT_MINOR_UNITS: Record<string, number> = {
  USD: 2,
  EUR: 2,
  GBP: 2,
  AUD: 2,
  BRL: 2,
  TRY: 2,
  JPY: 0,
  CAD: 2,
  CHF: 2,
};

export function createSandboxPriceSource(deps: { clock: Clock; seed?: string }): PriceSource {
  const seed = deps.seed ?? 'rampart';
  const start = Math.floor(deps.clock.now() / 60_000);
  const state = new Map<string, { minute: number; price: Decimal }>();
  const step = (asset: string, i: number) => {
    const h = createHash('sha256').update(`${seed}:${asset}:${i}`).digest();
    return (h.readUInt16BE(0) / 65535) * 2 - 1; // uniform in [-1, 1]
  };
  return {
    cryptoUsd(asset) {
      const ref = REFERENCE_USD[asset];
      if (!ref) return null;
      if (STABLE.has(asset)) return ref;
      const minute = Math.floor(deps.clock.now() / 60_000);
      let s = state.get(asset) ?? { minute: start, price: new Decimal(ref) };
      // Walk forward one step per elapsed minute (bounded so a huge clock jump stays cheap).
      for (let m = s.minute + 1, n = 0; m <= minute && n < 10_000; m++, n++) {
        s = { minute: m, price: s.price.mul(new Decimal(1).plus(new Decimal(step(asset, m)).mul('0.002'))) };
      }
      if (minute > s.minute) s = { minute, price: s.price };
      state.set(asset, s);
      return s.price.toSignificantDigits(10).toFixed();
    },
    fiatUsd(fiat) {
      return FIAT_USD[fiat] ?? null;
    },
  };
}
