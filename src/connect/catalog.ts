import { ASSET_NETWORKS, NETWORKS, findAssetNetwork, type AssetNetwork } from '../chain/networks.ts';
import { err, ok, type Result } from '../platform/errors.ts';
import { Decimal } from '../platform/money.ts';
import { FIAT_MINOR_UNITS, type PriceSource } from '../prices/service.ts';
import type { Partner } from './partners.ts';

/**
 * What a partner can buy and at what price (binance-connect.md §4.1–§4.3): crypto × network from the chain
 * registry, fiat × crypto pairs with per-order limits, and quotes with the partner's spread and fee.
 * All arithmetic is on decimal strings.
 */
const CONNECT_FIATS = ['USD', 'EUR', 'GBP', 'AUD', 'BRL', 'TRY'] as const;
/**
 * Per-order limits in USD; each fiat's limits are these converted at the FX table and rounded to whole units inward.
 */
const LIMITS_USD = { min: '15', max: '20000' };

const connectAssets = () => [...new Set(ASSET_NETWORKS.filter((a) => a.withdrawEnabled).map((a) => a.asset))];

interface NetworkItem extends AssetNetwork {
  memoRequired: boolean;
  addressRegex: string;
  memoRegex: string;
  priceUsd: string;
}

interface Pair {
  fiatCurrency: string;
  cryptoCurrency: string;
  size: number;
  quotation: string;
  minLimit: string;
  maxLimit: string;
}

interface Quote {
  quotePrice: string;
  userFee: string;
  networkFee: string;
  cryptoAmount: string;
}

type CatalogError =
  | 'UNSUPPORTED_TRADE_PAIR'
  | 'UNSUPPORTED_NETWORK'
  | 'AMOUNT_OUT_OF_LIMIT'
  | 'WITHDRAW_AMOUNT_OUT_OF_LIMIT'
  | 'INVALID_PARAMETER';

export function createCatalog(deps: { prices: PriceSource }) {
  const { prices } = deps;

  function networks(): NetworkItem[] {
    const out: NetworkItem[] = [];
    for (const a of ASSET_NETWORKS) {
      const n = NETWORKS[a.network];
      const price = prices.cryptoUsd(a.asset);
      if (!a.withdrawEnabled || !n || price === null) continue;
      out.push({
        ...a,
        memoRequired: n.memoRequired,
        addressRegex: n.addressRegex,
        memoRegex: n.memoRegex,
        priceUsd: price,
      });
    }
    return out;
  }

  function limits(fiat: string): { min: string; max: string } | null {
    const usd = prices.fiatUsd(fiat);
    if (usd === null) return null;
    return {
      min: new Decimal(LIMITS_USD.min).div(usd).toDecimalPlaces(0, Decimal.ROUND_UP).toFixed(),
      max: new Decimal(LIMITS_USD.max).div(usd).toDecimalPlaces(0, Decimal.ROUND_DOWN).toFixed(),
    };
  }

  /** Fiat per 1 crypto with the partner's spread; rounded up (never in the user's favour beyond the spread) to 8 dp. */
  function price(partner: Partner, fiat: string, crypto: string): string | null {
    const c = prices.cryptoUsd(crypto);
    const f = prices.fiatUsd(fiat);
    if (c === null || f === null) return null;
    return new Decimal(c)
      .div(f)
      .mul(new Decimal(1).plus(partner.spread))
      .toDecimalPlaces(8, Decimal.ROUND_UP)
      .toFixed();
  }

  function pair(partner: Partner, fiat: string, crypto: string): Pair | null {
    if (!(CONNECT_FIATS as readonly string[]).includes(fiat) || !connectAssets().includes(crypto)) return null;
    const l = limits(fiat);
    const q = price(partner, fiat, crypto);
    if (!l || q === null) return null;
    return {
      fiatCurrency: fiat,
      cryptoCurrency: crypto,
      size: FIAT_MINOR_UNITS[fiat] ?? 2,
      quotation: q,
      minLimit: l.min,
      maxLimit: l.max,
    };
  }

  function pairs(partner: Partner): Pair[] {
    const out: Pair[] = [];
    for (const f of CONNECT_FIATS)
      for (const c of connectAssets()) {
        const p = pair(partner, f, c);
        if (p) out.push(p);
      }
    return out;
  }

  /**
   * §4.3: userFee = max(minFee, pct × amount) rounded up to minor units; cryptoAmount =
   * floor_to_step((amount − userFee) / quotePrice − networkFee, withdrawIntegerMultiple), within the network's
   * withdrawal limits.
   */
  function quote(
    partner: Partner,
    input: { fiat: string; crypto: string; network: string; amount: string },
  ): Result<Quote & { pair: Pair; assetNetwork: AssetNetwork }, CatalogError> {
    const p = pair(partner, input.fiat, input.crypto);
    if (!p) return err('UNSUPPORTED_TRADE_PAIR', `${input.fiat}/${input.crypto} is not a listed pair`);
    const an = findAssetNetwork(input.crypto, input.network);
    if (!an || !an.withdrawEnabled)
      return err('UNSUPPORTED_NETWORK', `network ${input.network} is not listed for ${input.crypto}`, 'cryptoNetwork');
    const amount = new Decimal(input.amount);
    if (amount.decimalPlaces() > p.size)
      return err('INVALID_PARAMETER', `at most ${p.size} decimal places for ${input.fiat}`, 'amount');
    if (amount.lt(p.minLimit) || amount.gt(p.maxLimit))
      return err('AMOUNT_OUT_OF_LIMIT', `amount must be between ${p.minLimit} and ${p.maxLimit}`, 'amount');
    const fiatUsd = prices.fiatUsd(input.fiat)!;
    const minFee = new Decimal(partner.minFeeUsd).div(fiatUsd);
    const userFee = Decimal.max(minFee, amount.mul(partner.feePct)).toDecimalPlaces(p.size, Decimal.ROUND_UP);
    const step = new Decimal(an.withdrawIntegerMultiple);
    const gross = amount.minus(userFee).div(p.quotation).minus(an.withdrawFee);
    const cryptoAmount = gross.gt(0) ? gross.div(step).floor().mul(step) : new Decimal(0);
    if (cryptoAmount.lt(an.withdrawMin) || cryptoAmount.gt(an.withdrawMax)) {
      return err(
        'WITHDRAW_AMOUNT_OUT_OF_LIMIT',
        `the crypto amount ${cryptoAmount.toFixed()} ${input.crypto} must be between ${an.withdrawMin} ` +
          `and ${an.withdrawMax} on ${input.network}`,
      );
    }
    return ok({
      quotePrice: p.quotation,
      userFee: userFee.toFixed(),
      networkFee: new Decimal(an.withdrawFee).toFixed(),
      cryptoAmount: cryptoAmount.toFixed(),
      pair: p,
      assetNetwork: an,
    });
  }

  /**
   * The fiat amount that buys `cryptoAmount` of the crypto (gen-2 amountType 2, binance-connect-v2.md §4.6): the
   * crypto at the quote price plus the fee, fee = max(minFee, pct × total) solved for the total, rounded up to minor
   * units. With `netReceive` the network fee is bought on top, so the destination receives `cryptoAmount` itself.
   * The result is then quoted like any fiat amount (limits, network minimums), so both ways share one formula.
   */
  function fiatForCrypto(
    partner: Partner,
    input: { fiat: string; crypto: string; network: string; cryptoAmount: string; netReceive?: boolean },
  ): Result<string, CatalogError> {
    const p = pair(partner, input.fiat, input.crypto);
    if (!p) return err('UNSUPPORTED_TRADE_PAIR', `${input.fiat}/${input.crypto} is not a listed pair`);
    const an = findAssetNetwork(input.crypto, input.network);
    if (!an || !an.withdrawEnabled)
      return err('UNSUPPORTED_NETWORK', `network ${input.network} is not listed for ${input.crypto}`, 'network');
    const bought = new Decimal(input.cryptoAmount).plus(input.netReceive ? an.withdrawFee : 0);
    const net = bought.mul(p.quotation);
    const minFee = new Decimal(partner.minFeeUsd).div(prices.fiatUsd(input.fiat)!);
    const pct = new Decimal(partner.feePct);
    const byPct = pct.lt(1) ? net.div(new Decimal(1).minus(pct)) : null;
    const total = byPct && byPct.mul(pct).gte(minFee) ? byPct : net.plus(minFee);
    return ok(total.toDecimalPlaces(p.size, Decimal.ROUND_UP).toFixed());
  }

  return { networks, pairs, pair, quote, limits, fiatForCrypto };
}
export type Catalog = ReturnType<typeof createCatalog>;
