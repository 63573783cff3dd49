import { validateAddress } from '../../chain/address.ts';
import { findAssetNetwork } from '../../chain/networks.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import { raw } from '../../platform/json.ts';
import { Decimal } from '../../platform/money.ts';
import type { PriceSource } from '../../prices/service.ts';
import type { Catalog } from '../catalog.ts';
import type { Partner } from '../partners.ts';
import type { Gen2DomainError } from './codes.ts';
import { amountField, GEN2_PAY_METHODS, intField, tokenOfContract } from './preorder.ts';

/**
 * Generation 2's discovery operations (binance-connect-v2.md §4.1–§4.6) over the shared catalog: the two arrays of
 * trading pairs, networks per crypto, payment methods with limits, and the indicative quote. Fields are checked in
 * the order of the spec's request tables; the first failure wins and names its field. Amounts leave as decimal
 * strings (crypto-network's fee and limits as exact JSON numbers, as Binance's samples).
 */
type Body = Record<string, unknown>;
type Fail = { ok: false; code: Gen2DomainError; message?: string; field?: string };
const illegal = (field: string, message: string): Fail => err('ILLEGAL_PARAMETERS', message, field) as Fail;
const noQuote = (message: string): Fail => err('NOT_SUPPORT_QUOTE_FOR_PAYMENT_METHOD', message) as Fail;

/** A decimal rounded down to 8 places, as a plain string. */
const floor8 = (d: Decimal) => d.toDecimalPlaces(8, Decimal.ROUND_DOWN).toFixed();

function code(b: Body, field: string, required: boolean): Result<string | null, Gen2DomainError> {
  const v = b[field];
  if (v === undefined || v === null || v === '') return required ? illegal(field, `${field} is required`) : ok(null);
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(v)) return illegal(field, `${field} is not a valid code`);
  return ok(v);
}

/** `language` (or its alias `lang`): `LanguageCode[-RegionCode]`. Display names are English whatever is asked. */
function language(b: Body): Result<string | null, Gen2DomainError> {
  const field = b.language !== undefined && b.language !== null ? 'language' : 'lang';
  const v = b[field];
  if (v === undefined || v === null || v === '') return ok(null);
  if (typeof v !== 'string' || !/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,4})?$/.test(v))
    return illegal(field, `${field} must be LanguageCode[-RegionCode]`);
  return ok(v);
}

export function createGen2Discovery(deps: { catalog: Catalog; prices: PriceSource }) {
  const { catalog, prices } = deps;

  const fiats = (partner: Partner) => [...new Set(catalog.pairs(partner).map((p) => p.fiatCurrency))].sort();
  const cryptos = (partner: Partner) => [...new Set(catalog.pairs(partner).map((p) => p.cryptoCurrency))].sort();
  /** §4.6 Decision: the first enabled network of the crypto. */
  const defaultNetwork = (crypto: string) => catalog.networks().find((n) => n.asset === crypto)?.network ?? null;

  /** §4.1 */
  function tradingPairs(partner: Partner) {
    return { fiatCurrencies: fiats(partner), cryptoCurrencies: cryptos(partner) };
  }

  /** §4.2: Rampart has no P2P desk. */
  function p2pTradingPairs(b: Body): Result<{ fiatCurrencies: string[]; cryptoCurrencies: string[] }, Gen2DomainError> {
    const fiat = code(b, 'fiatCurrency', false);
    if (!fiat.ok) return fiat;
    return ok({ fiatCurrencies: [], cryptoCurrencies: [] });
  }

  /** §4.3: networks per crypto, in the registry's order. */
  function cryptoNetworks() {
    const byCrypto = new Map<string, unknown[]>();
    for (const n of catalog.networks()) {
      const list = byCrypto.get(n.asset) ?? [];
      list.push({
        network: n.network,
        addressRegex: n.addressRegex,
        memoRegex: n.memoRegex,
        withdrawFee: raw(new Decimal(n.withdrawFee).toFixed()),
        withdrawMinAmount: raw(new Decimal(n.withdrawMin).toFixed()),
        withdrawMaxAmount: raw(new Decimal(n.withdrawMax).toFixed()),
        contractAddress: n.contractAddress,
        withdrawEnable: n.withdrawEnabled,
        depositEnable: n.depositEnabled,
        // Decision: the chain watcher credits any transfer, so the dust is the smallest unit the wire carries (8 dp).
        depositDust: new Decimal(10).pow(-Math.min(n.decimals, 8)).toFixed(),
      });
      byCrypto.set(n.asset, list);
    }
    return [...byCrypto].map(([cryptoCurrency, networks]) => ({ cryptoCurrency, networks }));
  }

  /** The crypto and network of a request: `contractAddress` stands for a listed token (§10.3). */
  function cryptoOf(
    b: Body,
    opts: { networkRequiredWithContract: boolean },
  ): Result<{ crypto: string; network: string | null; contract: boolean }, Gen2DomainError> {
    const crypto = code(b, 'cryptoCurrency', false);
    if (!crypto.ok) return crypto;
    const network = code(b, 'network', false);
    if (!network.ok) return network;
    const contract = b.contractAddress;
    if (contract !== undefined && contract !== null && contract !== '') {
      if (typeof contract !== 'string' || contract.length > 128)
        return illegal('contractAddress', 'contractAddress must be a string');
      if (opts.networkRequiredWithContract && network.value === null)
        return illegal('network', 'network is required with contractAddress');
      const token = tokenOfContract(contract, network.value?.toUpperCase() ?? null);
      if (!token.ok) return token;
      const asked = crypto.value?.toUpperCase() ?? null;
      if (asked !== null && asked !== token.value)
        return err('SWAP_TOKEN_NOT_MATCHED', `contract is ${token.value}, not ${asked}`, token.value) as Fail;
      return ok({ crypto: token.value, network: network.value?.toUpperCase() ?? null, contract: true });
    }
    if (crypto.value === null) return illegal('cryptoCurrency', 'cryptoCurrency is required');
    return ok({ crypto: crypto.value.toUpperCase(), network: network.value?.toUpperCase() ?? null, contract: false });
  }

  function listedFiat(partner: Partner, b: Body): Result<string, Gen2DomainError> {
    const fiat = code(b, 'fiatCurrency', true);
    if (!fiat.ok) return fiat as Fail;
    const f = fiat.value!.toUpperCase();
    if (!fiats(partner).includes(f)) return illegal('fiatCurrency', `${f} is not a listed fiat currency`);
    return ok(f);
  }

  /**
   * §4.4: the methods for one pair and amount, with their limits. The amount is not filtered against the limits
   * (Decision); an unlisted pair or an unsupported contract answers an empty list.
   */
  function paymentMethods(partner: Partner, b: Body): Result<{ paymentMethods: unknown[] }, Gen2DomainError> {
    const fiat = listedFiat(partner, b);
    if (!fiat.ok) return fiat;
    const cryptoIn = code(b, 'cryptoCurrency', false);
    if (!cryptoIn.ok) return cryptoIn;
    const total = amountField(b, 'totalAmount', true);
    if (!total.ok) return total;
    const amountType = intField(b, 'amountType', [1, 2], true);
    if (!amountType.ok) return amountType;
    const lang = language(b);
    if (!lang.ok) return lang;
    const pick = cryptoOf(b, { networkRequiredWithContract: true });
    if (!pick.ok) return pick.code === 'SWAP_TOKEN_NOT_FOUND' ? ok({ paymentMethods: [] }) : pick;
    const { crypto } = pick.value;
    const network = pick.value.network ?? defaultNetwork(crypto);
    const pair = catalog.pair(partner, fiat.value, crypto);
    if (!pair || network === null) return ok({ paymentMethods: [] });
    const an = findAssetNetwork(crypto, network);
    if (!an || !an.withdrawEnabled || !catalog.networks().some((n) => n.asset === crypto && n.network === network))
      return illegal('network', `network ${network} is not listed for ${crypto}`);
    const fiatUsd = prices.fiatUsd(fiat.value);
    if (fiatUsd === null) return err('SYSTEM_BUSY', `${fiat.value} cannot be priced right now`) as Fail;
    // The crypto limits: what the fiat limits deliver on this network (the quote's fee, max(minFee, pct × amount)
    // rounded up to minor units), within its withdrawal limits.
    const delivered = (fiatAmount: string) => {
      const amount = new Decimal(fiatAmount);
      const fee = Decimal.max(new Decimal(partner.minFeeUsd).div(fiatUsd), amount.mul(partner.feePct)).toDecimalPlaces(
        pair.size,
        Decimal.ROUND_UP,
      );
      const d = amount.minus(fee).div(pair.quotation).minus(an.withdrawFee);
      return Decimal.min(Decimal.max(d, an.withdrawMin), an.withdrawMax);
    };
    return ok({
      paymentMethods: GEN2_PAY_METHODS.map((m) => ({
        payMethodCode: m.payMethodCode,
        payMethodSubCode: m.payMethodSubCode,
        paymentMethod: m.paymentMethod,
        fiatMinLimit: pair.minLimit,
        fiatMaxLimit: pair.maxLimit,
        cryptoMinLimit: floor8(delivered(pair.minLimit)),
        cryptoMaxLimit: floor8(delivered(pair.maxLimit)),
        p2p: false,
        withdrawRestriction: 0,
      })),
    });
  }

  /** §4.5: every method, per listed fiat, with both spellings of the v2 page. */
  function paymentMethodsV2(partner: Partner, b: Body): Result<unknown[], Gen2DomainError> {
    const lang = language(b);
    if (!lang.ok) return lang;
    return ok(
      fiats(partner).map((f) => ({
        fiatCurrency: f,
        fiat: f,
        paymentMethods: GEN2_PAY_METHODS.map((m) => ({
          payMethodCode: m.payMethodCode,
          paymentMethodCode: m.payMethodCode,
          payMethodSubCode: m.payMethodSubCode,
          channelCode: m.payMethodSubCode,
          paymentMethod: m.paymentMethod,
          p2p: false,
        })),
      })),
    );
  }

  /**
   * §4.6: the indicative quote. amountType 1: totalAmount = floor_to_8dp((fiat − fee) / price − networkFee);
   * amountType 2: totalAmount = the fiat that buys the crypto (catalog.fiatForCrypto), quoted like any fiat amount so
   * both ways share the limits and the fee.
   */
  function estimatedQuote(partner: Partner, b: Body): Result<Record<string, string>, Gen2DomainError> {
    const fiat = listedFiat(partner, b);
    if (!fiat.ok) return fiat;
    const requested = amountField(b, 'requestedAmount', true);
    if (!requested.ok) return requested;
    const amountType = intField(b, 'amountType', [1, 2], true);
    if (!amountType.ok) return amountType;
    const methodCode = code(b, 'payMethodCode', true);
    if (!methodCode.ok) return methodCode;
    const method = GEN2_PAY_METHODS.find((m) => m.payMethodCode === methodCode.value);
    if (!method) return noQuote(`payMethodCode ${methodCode.value} is not offered`);
    const methodSub = code(b, 'payMethodSubCode', false);
    if (!methodSub.ok) return methodSub;
    if (methodSub.value !== null && methodSub.value !== method.payMethodSubCode)
      return noQuote(`payMethodSubCode of ${method.payMethodCode} is ${method.payMethodSubCode}`);
    const pick = cryptoOf(b, { networkRequiredWithContract: false });
    if (!pick.ok) return pick;
    const { crypto } = pick.value;
    if (!cryptos(partner).includes(crypto)) return illegal('cryptoCurrency', `${crypto} is not a listed crypto`);
    const network = pick.value.network ?? defaultNetwork(crypto);
    if (network === null || !catalog.networks().some((n) => n.asset === crypto && n.network === network)) {
      if (pick.value.contract) return err('SWAP_NETWORK_NOT_SUPPORT', `${crypto} is not listed on ${network}`) as Fail;
      return illegal('network', `network ${network} is not listed for ${crypto}`);
    }
    const address = b.address;
    if (address !== undefined && address !== null && address !== '') {
      if (typeof address !== 'string' || address.length > 256) return illegal('address', 'address must be a string');
      const a = validateAddress(network, address);
      if (!a.ok) return illegal('address', a.message ?? 'invalid address');
    }
    if (!catalog.pair(partner, fiat.value, crypto)) return noQuote(`${fiat.value}/${crypto} is not a listed pair`);

    let fiatAmount = requested.value!;
    if (amountType.value === 2) {
      const f = catalog.fiatForCrypto(partner, { fiat: fiat.value, crypto, network, cryptoAmount: fiatAmount });
      if (!f.ok) return noQuote(f.message ?? 'the amount cannot be quoted');
      fiatAmount = f.value;
    }
    const q = catalog.quote(partner, { fiat: fiat.value, crypto, network, amount: fiatAmount });
    if (!q.ok) {
      // More decimals than the fiat has minor units is the request's fault; the rest is outside what the method serves.
      if (q.code === 'INVALID_PARAMETER') return illegal('requestedAmount', q.message ?? 'too many decimal places');
      return noQuote(q.message ?? 'the amount cannot be quoted');
    }
    const delivered = new Decimal(fiatAmount).minus(q.value.userFee).div(q.value.quotePrice).minus(q.value.networkFee);
    if (delivered.lte(0)) return noQuote('the amount does not cover the fees');
    return ok({
      totalAmount: amountType.value === 1 ? floor8(delivered) : fiatAmount,
      quotePrice: q.value.quotePrice,
      feeAmount: q.value.userFee,
      feeCurrency: fiat.value,
      networkFee: q.value.networkFee,
      payMethodCode: method.payMethodCode,
      payMethodSubCode: method.payMethodSubCode,
    });
  }

  return { tradingPairs, p2pTradingPairs, cryptoNetworks, paymentMethods, paymentMethodsV2, estimatedQuote };
}
export type Gen2Discovery = ReturnType<typeof createGen2Discovery>;
