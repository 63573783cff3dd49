import { validateDestination } from '../../chain/address.ts';
import { ASSET_NETWORKS, findAssetNetwork } from '../../chain/networks.ts';
import type { Clock } from '../../platform/clock.ts';
import { randomHex, sha256Hex, type SecretBox } from '../../platform/crypto.ts';
import type { Db } from '../../platform/db/client.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import { isValidIpOrCidr } from '../../platform/ip.ts';
import { Decimal } from '../../platform/money.ts';
import type { PriceSource } from '../../prices/service.ts';
import type { Catalog } from '../catalog.ts';
import type { ConnectOrders } from '../orders/service.ts';
import { insertOrder, newOrder, type ConnectOrder, type Gen2Fields } from '../orders/store.ts';
import { redirectAllowed, type Partner } from '../partners.ts';
import type { Gen2DomainError } from './codes.ts';
import { STATUS } from './wire.ts';

/**
 * `buy/pre-order` (binance-connect-v2.md §4.7): a gen-2 order on the shared order model (§12), opened by the same
 * hosted buy flow as a gen-1 order. Fields are checked in the order of the spec's table; the first failure wins and
 * names its field. The one insert settles duplicates (the partner's order ids are unique across both generations).
 *
 * Decisions where Rampart's page is narrower than Binance's: the page never lets the user change what the partner
 * pre-ordered (pair, amount, method, network, address), so every order is in effect LOCK_ORDER_ATTRIBUTES and its
 * amount is checked against the limits here; `requestedAmount` (or `fiatAmount`) is therefore required.
 */
type Body = Record<string, unknown>;
type Fail = { ok: false; code: Gen2DomainError; message?: string; field?: string };
const illegal = (field: string, message: string): Fail => err('ILLEGAL_PARAMETERS', message, field) as Fail;

export const GEN2_PAY_METHODS = [{ payMethodCode: 'BUY_CARD', payMethodSubCode: 'card', paymentMethod: 'Card' }];

function optString(b: Body, field: string, max: number): Result<string | null, Gen2DomainError> {
  const v = b[field];
  if (v === undefined || v === null || v === '') return ok(null);
  if (typeof v !== 'string' || v.length > max)
    return illegal(field, `${field} must be a string of at most ${max} characters`);
  return ok(v);
}

/** An int enumeration; a numeric string is accepted too (§1). */
export function intField(
  b: Body,
  field: string,
  allowed: number[],
  required: boolean,
): Result<number | null, Gen2DomainError> {
  const v = b[field];
  if (v === undefined || v === null || v === '') return required ? illegal(field, `${field} is required`) : ok(null);
  const s = typeof v === 'string' ? v : String(v);
  const n = /^\d{1,3}$/.test(s) ? Number(s) : NaN;
  if (!allowed.includes(n)) return illegal(field, `${field} must be one of ${allowed.join(', ')}`);
  return ok(n);
}

/** A positive amount (string, or a number kept exact by the lossless parser) with at most 8 decimal places. */
export function amountField(b: Body, field: string, required: boolean): Result<string | null, Gen2DomainError> {
  const v = b[field];
  if (v === undefined || v === null || v === '') return required ? illegal(field, `${field} is required`) : ok(null);
  if (typeof v !== 'string' || !/^\d{1,16}(\.\d{1,8})?$/.test(v) || !new Decimal(v).gt(0))
    return illegal(field, `${field} must be a positive decimal with at most 8 decimal places`);
  return ok(new Decimal(v).toFixed());
}

/** A listed token's contract on the network stands for that token (§10.3); any other contract is not found. */
export function tokenOfContract(contract: string, network: string | null): Result<string, Gen2DomainError> {
  const hit = ASSET_NETWORKS.find(
    (a) =>
      a.contractAddress !== '' &&
      a.contractAddress.toLowerCase() === contract.toLowerCase() &&
      (network === null || a.network === network),
  );
  return hit ? ok(hit.asset) : (err('SWAP_TOKEN_NOT_FOUND', `no listed token has contract ${contract}`) as Fail);
}

export function createPreOrders(deps: {
  db: Db;
  clock: Clock;
  catalog: Catalog;
  prices: PriceSource;
  orders: ConnectOrders;
  box: SecretBox;
  publicUrl: string;
  orderTtlMs: number;
  mode: 'sandbox' | 'production';
}) {
  const { db, clock, catalog, prices, orders, box, mode } = deps;

  function deepLinkOk(partner: Partner, link: string): boolean {
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(link);
    return !!m && partner.deepLinkSchemes.includes(m[1]!.toLowerCase());
  }

  /** §7: only flags enabled for the partner count; an enabled flag with a wrong value is refused. */
  function customizationOf(partner: Partner, v: unknown): Result<Record<string, unknown>, Gen2DomainError> {
    if (v === undefined || v === null) return ok({});
    if (typeof v !== 'object' || Array.isArray(v)) return illegal('customization', 'customization must be an object');
    const bad = (key: string): Fail => err('ILLEGAL_CUSTOMIZATION_VALUE', `${key} has an illegal value`, key) as Fail;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(v as Body)) {
      if (!partner.customizationFlags.includes(key)) continue;
      if (key === 'LOCK_ORDER_ATTRIBUTES') {
        const list = Array.isArray(value)
          ? value.map((x) => (typeof x === 'number' || (typeof x === 'string' && /^\d$/.test(x)) ? Number(x) : NaN))
          : null;
        if (!list || list.length === 0 || !list.every((n) => Number.isInteger(n) && n >= 1 && n <= 8)) return bad(key);
        out[key] = [...new Set(list)].sort((a, b) => a - b);
      } else if (key === 'MERCHANT_DISPLAY_NAME') {
        if (typeof value !== 'string' || value.trim() === '' || value.length > 64) return bad(key);
        out[key] = value.trim();
      } else {
        if (typeof value !== 'boolean') return bad(key);
        out[key] = value;
      }
    }
    if (out.SEND_PRIMARY_FLEXIBLE === true && out.SEND_PRIMARY !== true) return bad('SEND_PRIMARY_FLEXIBLE');
    // Rampart has no contract call after the purchase (§7).
    if (out.ON_CHAIN_PROXY_MODE === true)
      return err('UNSUPPORTED_ORDER_TYPE', 'on-chain proxy orders are not supported') as Fail;
    return ok(out);
  }

  async function create(
    partner: Partner,
    b: Body,
  ): Promise<Result<{ link: string; linkExpireTime: number; order: ConnectOrder }, Gen2DomainError>> {
    const externalOrderId = b.externalOrderId;
    if (typeof externalOrderId !== 'string' || !/^[A-Za-z0-9]{1,64}$/.test(externalOrderId))
      return illegal('externalOrderId', 'externalOrderId must be 1 to 64 letters and digits');
    const fiatIn = optString(b, 'fiatCurrency', 16);
    if (!fiatIn.ok) return fiatIn;
    const cryptoIn = optString(b, 'cryptoCurrency', 16);
    if (!cryptoIn.ok) return cryptoIn;
    let amountType = intField(b, 'amountType', [1, 2], true);
    if (!amountType.ok) return amountType;
    let requested = amountField(b, 'requestedAmount', false);
    if (!requested.ok) return requested;
    if (requested.value === null) {
      // §4.7: fiatAmount (the skill's name) means requestedAmount in fiat.
      const fiatAmount = amountField(b, 'fiatAmount', false);
      if (!fiatAmount.ok) return fiatAmount;
      if (fiatAmount.value === null)
        return illegal(
          'requestedAmount',
          "requestedAmount is required: Rampart's page takes the amount from pre-order",
        );
      requested = fiatAmount;
      amountType = ok(1);
    }
    const methodCode = optString(b, 'payMethodCode', 32);
    if (!methodCode.ok) return methodCode;
    const methodSub = optString(b, 'payMethodSubCode', 32);
    if (!methodSub.ok) return methodSub;
    const method = GEN2_PAY_METHODS.find((m) => m.payMethodCode === (methodCode.value ?? 'BUY_CARD'));
    if (!method) return illegal('payMethodCode', `payMethodCode ${methodCode.value} is not offered; use BUY_CARD`);
    if (methodSub.value !== null && methodSub.value !== method.payMethodSubCode)
      return illegal('payMethodSubCode', `payMethodSubCode of ${method.payMethodCode} is ${method.payMethodSubCode}`);
    const networkIn = optString(b, 'network', 32);
    if (!networkIn.ok) return networkIn;
    if (networkIn.value === null) return illegal('network', 'network is required');
    const network = networkIn.value.toUpperCase();
    const contract = optString(b, 'contractAddress', 128);
    if (!contract.ok) return contract;
    let crypto = cryptoIn.value?.toUpperCase() ?? null;
    if (contract.value !== null) {
      const token = tokenOfContract(contract.value, network);
      if (!token.ok) return token;
      if (crypto !== null && crypto !== token.value)
        return err('SWAP_TOKEN_NOT_MATCHED', `contract is ${token.value}, not ${crypto}`, token.value) as Fail;
      crypto = token.value;
    }
    // Decision (§4.7): defaults are USD, and the first crypto listed on the network.
    const fiat = fiatIn.value?.toUpperCase() ?? 'USD';
    const cryptoCode: string = crypto ?? catalog.networks().find((n) => n.network === network)?.asset ?? 'USDT';
    if (!catalog.pair(partner, fiat, cryptoCode)) {
      const field = catalog.pairs(partner).some((p) => p.fiatCurrency === fiat) ? 'cryptoCurrency' : 'fiatCurrency';
      return illegal(field, `${fiat}/${cryptoCode} is not a listed pair`);
    }
    if (!catalog.networks().some((n) => n.asset === cryptoCode && n.network === network))
      return illegal('network', `network ${network} is not listed for ${cryptoCode}`);
    const address = optString(b, 'address', 256);
    if (!address.ok) return address;
    if (address.value === null) return illegal('address', 'address is required');
    const memo = optString(b, 'memo', 128);
    if (!memo.ok) return memo;
    const dest = validateDestination(network, address.value, memo.value);
    if (!dest.ok) return illegal(dest.code === 'INVALID_MEMO' ? 'memo' : 'address', dest.message ?? 'invalid address');
    const urls: Record<string, string | null> = {};
    for (const f of ['redirectUrl', 'failRedirectUrl', 'redirectDeepLink', 'failRedirectDeepLink'] as const) {
      const v = optString(b, f, 1024);
      if (!v.ok) return v;
      if (
        v.value !== null &&
        !(f.endsWith('Url') ? redirectAllowed(partner, v.value, mode) : deepLinkOk(partner, v.value))
      )
        return illegal(
          f,
          f.endsWith('Url')
            ? `${f} must be ${mode === 'sandbox' ? 'an http(s)' : 'an https'} URL on a registered redirect domain`
            : `${f} must use an app scheme registered at onboarding`,
        );
      urls[f] = v.value;
    }
    const clientIp = optString(b, 'clientIp', 64);
    if (!clientIp.ok) return clientIp;
    if (clientIp.value !== null && (!isValidIpOrCidr(clientIp.value) || clientIp.value.includes('/')))
      return illegal('clientIp', 'clientIp must be an IP address');
    if (clientIp.value !== null && orders.ipCheck(clientIp.value).status === 'reject')
      return illegal('clientIp', 'the end user is in a restricted region');
    const clientType = optString(b, 'clientType', 16);
    if (!clientType.ok) return clientType;
    if (clientType.value !== null && clientType.value !== 'web' && clientType.value !== 'mobile')
      return illegal('clientType', 'clientType must be web or mobile');
    const customization = customizationOf(partner, b.customization);
    if (!customization.ok) return customization;
    const userData = optString(b, 'userData', 1024);
    if (!userData.ok) return userData;
    const affiliateCode = optString(b, 'affiliateCode', 64);
    if (!affiliateCode.ok) return affiliateCode;
    const gtrTemplateCode = optString(b, 'gtrTemplateCode', 64);
    if (!gtrTemplateCode.ok) return gtrTemplateCode;

    // Send primary (§10.4): the crypto and its amount are fixed by the partner; Decision: given in crypto (amountType
    // 2), the amount the address receives. SEND_PRIMARY_FLEXIBLE is honoured as fixed (the page edits no amount).
    if (customization.value.SEND_PRIMARY === true) {
      if (cryptoIn.value === null) return illegal('cryptoCurrency', 'cryptoCurrency is required with SEND_PRIMARY');
      if (amountType.value !== 2)
        return err(
          'ILLEGAL_CUSTOMIZATION_VALUE',
          'SEND_PRIMARY needs amountType 2 (the crypto amount to send)',
          'SEND_PRIMARY',
        ) as Fail;
      // What the chain will accept for a withdrawal of this crypto on this network, checked here, not after a purchase.
      const an = findAssetNetwork(cryptoCode, network);
      const send = new Decimal(requested.value!);
      if (!an || send.lt(an.withdrawMin) || send.gt(an.withdrawMax) || !send.mod(an.withdrawIntegerMultiple).eq(0))
        return illegal(
          'requestedAmount',
          `a send of ${cryptoCode} on ${network} must be between ${an?.withdrawMin} and ${an?.withdrawMax} in steps ` +
            `of ${an?.withdrawIntegerMultiple}`,
        );
    }
    // The amount, against the limits (the page cannot change it: see above).
    const requestedAmount: string = requested.value!;
    let fiatAmount = requestedAmount;
    if (amountType.value === 2) {
      const f = catalog.fiatForCrypto(partner, {
        fiat,
        crypto: cryptoCode,
        network,
        cryptoAmount: requestedAmount,
        netReceive: customization.value.NET_RECEIVE === true,
      });
      if (!f.ok) return illegal('requestedAmount', f.message ?? 'the amount cannot be bought');
      fiatAmount = f.value;
    }
    const q = catalog.quote(partner, { fiat, crypto: cryptoCode, network, amount: fiatAmount });
    if (!q.ok) return illegal('requestedAmount', q.message ?? 'the amount is outside the limits');
    const fiatUsd = prices.fiatUsd(fiat);
    if (fiatUsd === null) return err('SYSTEM_BUSY', `${fiat} cannot be priced right now`) as Fail;

    const now = clock.now();
    const token = randomHex(20);
    const gen2: Gen2Fields = {
      amountType: amountType.value as 1 | 2,
      requestedAmount,
      payMethodCode: methodCode.value,
      payMethodSubCode: methodSub.value,
      redirectUrl: urls.redirectUrl ?? null,
      failRedirectUrl: urls.failRedirectUrl ?? null,
      redirectDeepLink: urls.redirectDeepLink ?? null,
      failRedirectDeepLink: urls.failRedirectDeepLink ?? null,
      clientType: clientType.value as 'web' | 'mobile' | null,
      customization: customization.value,
      userData: userData.value,
      affiliateCode: affiliateCode.value,
      gtrTemplateCode: gtrTemplateCode.value,
      feeUsd: new Decimal(q.value.userFee).mul(fiatUsd).toDecimalPlaces(2, Decimal.ROUND_UP).toFixed(2),
    };
    const order = newOrder(
      {
        partnerCode: partner.code,
        merchantOrderId: externalOrderId,
        merchantUserId: null,
        businessType: 'BUY',
        fiatCurrency: fiat,
        cryptoCurrency: cryptoCode,
        cryptoNetwork: network,
        cryptoAddress: dest.value.address,
        cryptoAddressMemo: dest.value.memo,
        orderAmount: fiatAmount,
        userFee: q.value.userFee,
        networkFee: q.value.networkFee,
        quotePrice: q.value.quotePrice,
        // The shared page's "Back to" link on success; the gen-2 page picks by outcome (gen2 fields).
        merchantRedirectUrl: urls.redirectUrl ?? null,
        merchantNote: null,
        clientUserIp: clientIp.value,
        expiredTime: now + deps.orderTtlMs,
        generation: 2,
        gen2,
        gen2Status: STATUS.INIT,
        linkTokenSealed: box.seal(token),
      },
      now,
    );
    if (!(await insertOrder(db, order, sha256Hex(token))))
      return err('DUPLICATE_EXTERNAL_ORDER_ID', `externalOrderId ${externalOrderId} was already used`) as Fail;
    return ok({ link: `${deps.publicUrl}/uni-qr/ccnt?token=${token}`, linkExpireTime: order.expiredTime, order });
  }

  /** `order` (§4.8): the partner's gen-2 order by externalOrderId, as the wire object. */
  async function find(partner: Partner, externalOrderId: string) {
    const r = await orders.get(partner.code, { merchantOrderId: externalOrderId }, 2);
    return r.ok ? ok(r.value) : (err('ORDER_NOT_FOUND') as Fail);
  }

  return { create, find };
}
export type PreOrders = ReturnType<typeof createPreOrders>;
