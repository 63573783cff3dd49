import type { Logger } from '../platform/logger.ts';
import { parseLossless } from '../platform/json.ts';
import { Decimal, isDecimalString } from '../platform/money.ts';
import type { PriceSource } from './service.ts';

/**
 * Production price source: a public ticker feed over HTTP, in the shape of Binance's
 * `GET /api/v3/ticker/price` (`[{"symbol":"BTCUSDT","price":"65000.01"}, …]`), quoted against USDT.
 * Reads never wait on the network: they answer from the last good snapshot and start a refresh in the
 * background when it is older than `refreshMs`. A snapshot older than `maxAgeMs` answers null, so quotes
 * and fiat orders are refused rather than priced on stale data.
 */
interface TickerOptions {
  url: string;
  refreshMs?: number;
  maxAgeMs?: number;
  timeoutMs?: number;
  logger?: Logger;
  /** Wall clock; market data ages in real time, not on the sandbox business clock. */
  now?: () => number;
}

const QUOTE_ASSET = 'USDT';

export function createTickerPriceSource(
  opts: TickerOptions,
): PriceSource & { refresh(): Promise<boolean>; snapshotAt(): number | null } {
  const now = opts.now ?? Date.now;
  const refreshMs = opts.refreshMs ?? 10_000;
  const maxAgeMs = opts.maxAgeMs ?? 60_000;
  let snapshot: { at: number; prices: Map<string, string> } | null = null;
  let inFlight: Promise<boolean> | null = null;

  async function refresh(): Promise<boolean> {
    inFlight ??= (async () => {
      try {
        const res = await fetch(opts.url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 5_000) });
        if (!res.ok) throw new Error(`ticker feed answered HTTP ${res.status}`);
        const list = parseLossless(await res.text());
        if (!Array.isArray(list)) throw new Error('ticker feed did not return a list');
        const prices = new Map<string, string>();
        for (const t of list as { symbol?: unknown; price?: unknown }[]) {
          if (
            typeof t?.symbol === 'string' &&
            typeof t.price === 'string' &&
            isDecimalString(t.price) &&
            new Decimal(t.price).gt(0)
          )
            prices.set(t.symbol, t.price);
        }
        if (prices.size === 0) throw new Error('ticker feed had no usable prices');
        snapshot = { at: now(), prices };
        return true;
      } catch (e) {
        opts.logger?.warn({ err: e }, 'price feed refresh failed; keeping the last snapshot');
        return false;
      } finally {
        inFlight = null;
      }
    })();
    return inFlight;
  }

  function current(): Map<string, string> | null {
    if (!snapshot) {
      void refresh();
      return null;
    }
    const age = now() - snapshot.at;
    if (age > refreshMs) void refresh();
    return age > maxAgeMs ? null : snapshot.prices;
  }

  /** USD per unit of `code`, from `CODEUSDT` or the inverse of `USDTCODE`; USDT is the USD proxy. */
  function usdOf(code: string): string | null {
    if (code === QUOTE_ASSET) return '1';
    const prices = current();
    if (!prices) return null;
    const direct = prices.get(`${code}${QUOTE_ASSET}`);
    if (direct) return direct;
    const inverse = prices.get(`${QUOTE_ASSET}${code}`);
    return inverse ? new Decimal(1).div(inverse).toSignificantDigits(12).toFixed() : null;
  }

  return {
    cryptoUsd: usdOf,
    fiatUsd: (fiat) => (fiat === 'USD' ? '1' : usdOf(fiat)),
    refresh,
    snapshotAt: () => snapshot?.at ?? null,
  };
}
