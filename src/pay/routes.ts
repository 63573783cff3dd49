import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { raw, stringify } from '../platform/json.ts';
import type { Balance } from '../platform/ledger/service.ts';
import { Decimal } from '../platform/money.ts';
import type { SigningKeys } from '../platform/signing-keys.ts';
import type { PriceSource } from '../prices/service.ts';
import type { PayAuth, PayCaller } from './auth.ts';
import { payFailure, type PayFailure } from './codes.ts';
import { num8 } from './events.ts';
import { wirePaymentInfo, type Actor, type NewOrder, type Order, type OrderService } from './orders/service.ts';
import { BalanceV1, BalanceV2, CreateOrderV1, CreateOrderV2, CreateOrderV3, QueryOrder, QueryOrderV1 } from './schemas.ts';
import { validate } from './validation.ts';

/** TSP scope of each endpoint (spec §7.8); null = any valid authorization. */
export type Scope = 'CHECKOUT' | 'REFUND' | 'BALANCE' | 'PAYOUT' | null;

/** Turns an authenticated caller into the merchant it acts for (itself, or a merchant that authorized it as TSP). */
export type ActorResolver = (caller: PayCaller, scope: Scope) => Promise<{ ok: true; actor: Actor } | { ok: false; failure: PayFailure }>;

export type PayHandlerResult = { data: unknown } | PayFailure;

export function envelope(result: PayHandlerResult): string {
  if ('data' in result) return `{"status":"SUCCESS","code":"000000","data":${stringify(result.data)},"errorMessage":null}`;
  return stringify({ status: 'FAIL', code: result.code, errorMessage: result.message });
}

export interface PayRouteDeps {
  auth: PayAuth;
  resolveActor: ActorResolver;
}

/**
 * Registers one Pay endpoint: authentication, actor resolution, then the handler; everything answers
 * HTTP 200 with the Pay envelope (spec §2). Other methods on the path get 400006.
 */
export function payRoute(
  app: FastifyInstance,
  deps: PayRouteDeps,
  path: string,
  opts: { scope: Scope; parameterless?: boolean; schema?: z.ZodType; summary: string; deferNonce?: boolean },
  handler: (body: Record<string, unknown>, actor: Actor, caller: PayCaller) => Promise<PayHandlerResult>,
) {
  const url = `/binancepay/openapi${path}`;
  const run = async (req: FastifyRequest, reply: FastifyReply) => {
    const authed = await deps.auth(req, { parameterless: opts.parameterless, deferNonce: opts.deferNonce });
    if (!authed.ok) return reply.code(200).type('application/json').send(envelope(authed.failure));
    const nonce = authed.caller.nonce;
    const send = async (r: PayHandlerResult) => {
      // A deferred nonce not recorded by the handler's write is recorded now; a replay answers 400001 as if checked first.
      if (nonce && !nonce.consumed && !(await deps.auth.recordNonce(nonce))) r = payFailure('400001', 'Nonce has been used.');
      return reply.code(200).type('application/json').send(envelope(r));
    };
    const resolved = await deps.resolveActor(authed.caller, opts.scope);
    if (!resolved.ok) return send(resolved.failure);
    return send(await handler(authed.caller.body, resolved.actor, authed.caller));
  };
  app.post(url, { schema: { tags: ['Binance Pay'], summary: opts.summary, ...(opts.schema ? { body: opts.schema } : {}) } }, run);
  app.route({ method: ['GET', 'PUT', 'DELETE', 'PATCH'], url, schema: { hide: true }, handler: run });
}

export function registerPayRoutes(app: FastifyInstance, deps: PayRouteDeps & {
  orders: OrderService; ledgerBalances: (merchantId: string) => Promise<Balance[]>; prices: PriceSource; signingKeys: SigningKeys; publicUrl: string;
}) {
  const { orders, publicUrl } = deps;
  const route = payRoute.bind(null, app, deps);
  const fail = (code: string, message?: string) => payFailure(code, message);

  const links = (o: Order) => {
    const checkoutUrl = `${publicUrl}/checkout/${o.checkoutToken}`;
    return {
      qrcodeLink: `${checkoutUrl}/qr.png`, qrContent: checkoutUrl, checkoutUrl, deeplink: checkoutUrl,
      universalUrl: checkoutUrl + (o.universalUrlAttach ?? ''),
    };
  };

  const createView = (o: Order) => {
    const l = links(o);
    const base = { prepayId: o.prepayId, terminalType: o.terminalType, expireTime: raw(String(o.expireTime)), ...l };
    if (o.apiVersion === 'v2') return base;
    if (o.apiVersion === 'v1') {
      const { terminalType, ...rest } = base;
      return { prepayId: rest.prepayId, tradeType: terminalType, expireTime: rest.expireTime, ...l };
    }
    return { ...base, currency: o.currency, totalFee: o.orderAmount, fiatCurrency: o.fiatCurrency, fiatAmount: o.fiatAmount };
  };

  const queryView = (o: Order, v1: boolean) => {
    const common = {
      merchantId: raw(o.merchantId), prepayId: o.prepayId, transactionId: o.transactionId, merchantTradeNo: o.merchantTradeNo,
      status: v1 && o.status === 'FULL_REFUNDED' ? 'REFUNDED' : o.status, currency: o.currency,
    };
    const tail = {
      openUserId: o.openUserId, passThroughInfo: o.passThroughInfo, commission: o.commission,
      transactTime: o.transactTime === null ? null : raw(String(o.transactTime)), createTime: raw(String(o.createTime)),
      paymentInfo: o.paymentInfo ? wirePaymentInfo(o.paymentInfo) : null,
    };
    if (v1) return { ...common, totalFee: o.orderAmount, tradeType: o.terminalType, productName: o.productName, productDetail: o.productDetail, ...tail };
    return { ...common, orderAmount: o.orderAmount, ...tail };
  };

  async function create(actor: Actor, input: NewOrder, caller: PayCaller): Promise<PayHandlerResult> {
    const r = await orders.create(actor, input, caller.nonce);
    return r.ok ? { data: createView(r.value) } : fail(r.code, r.message);
  }

  const common = (b: z.infer<typeof CreateOrderV3> | z.infer<typeof CreateOrderV2>) => ({
    merchantTradeNo: b.merchantTradeNo, terminalType: b.env.terminalType, currency: b.currency, orderAmount: b.orderAmount,
    fiatCurrency: b.fiatCurrency, fiatAmount: b.fiatAmount, description: b.description, supportPayCurrency: b.supportPayCurrency,
    returnUrl: b.returnUrl, cancelUrl: b.cancelUrl, webhookUrl: b.webhookUrl, passThroughInfo: b.passThroughInfo,
    universalUrlAttach: b.universalUrlAttach, orderExpireTime: b.orderExpireTime, subMerchantId: b.merchant?.subMerchantId,
    extra: { env: b.env, appId: b.appId, shipping: b.shipping, buyer: b.buyer, directDebitContract: b.directDebitContract, orderTags: b.orderTags, voucherCode: b.voucherCode, qrCodeReferId: b.qrCodeReferId },
  });
  const product = (g: { goodsCategory?: string | null; goodsType: string; goodsName: string; goodsDetail?: string | null }) => ({
    productType: g.goodsCategory ?? g.goodsType, productName: g.goodsName, productDetail: g.goodsDetail ?? null,
  });

  route('/v3/order', { scope: 'CHECKOUT', schema: CreateOrderV3, summary: 'Create order (v3)', deferNonce: true }, async (body, actor, caller) => {
    const v = validate(CreateOrderV3, body);
    if (!v.ok) return v.failure;
    const b = v.value;
    return create(actor, { apiVersion: 'v3', ...common(b), goods: b.goodsDetails, ...product(b.goodsDetails[0]) }, caller);
  });

  route('/v2/order', { scope: 'CHECKOUT', schema: CreateOrderV2, summary: 'Create order (v2, compatibility)', deferNonce: true }, async (body, actor, caller) => {
    const v = validate(CreateOrderV2, body);
    if (!v.ok) return v.failure;
    const b = v.value;
    return create(actor, { apiVersion: 'v2', ...common(b), goods: [b.goods], ...product(b.goods) }, caller);
  });

  route('/order', { scope: 'CHECKOUT', schema: CreateOrderV1, summary: 'Create order (v1, compatibility)', deferNonce: true }, async (body, actor, caller) => {
    const v = validate(CreateOrderV1, body);
    if (!v.ok) return v.failure;
    const b = v.value;
    if (b.merchantId !== actor.merchantId) return fail('400004', 'merchantId does not match the API key.');
    return create(actor, {
      apiVersion: 'v1', merchantTradeNo: b.merchantTradeNo, terminalType: b.tradeType, currency: b.currency, orderAmount: b.totalFee,
      goods: [], productType: b.productType, productName: b.productName, productDetail: b.productDetail, description: b.productDetail,
      returnUrl: b.returnUrl, cancelUrl: b.cancelUrl, orderExpireTime: b.orderExpireTime, subMerchantId: b.subMerchantId,
    }, caller);
  });

  route('/v2/order/query', { scope: 'CHECKOUT', schema: QueryOrder, summary: 'Query order (v2)' }, async (body, actor) => {
    const v = validate(QueryOrder, body);
    if (!v.ok) return v.failure;
    const r = await orders.get(actor.merchantId, v.value);
    return r.ok ? { data: queryView(r.value, false) } : fail(r.code);
  });

  route('/order/query', { scope: 'CHECKOUT', schema: QueryOrderV1, summary: 'Query order (v1, compatibility)' }, async (body, actor) => {
    const v = validate(QueryOrderV1, body);
    if (!v.ok) return v.failure;
    if (v.value.merchantId !== actor.merchantId) return fail('400004', 'merchantId does not match the API key.');
    if (v.value.subMerchantId) return fail('400206');
    const r = await orders.get(actor.merchantId, v.value);
    return r.ok ? { data: queryView(r.value, true) } : fail(r.code);
  });

  route('/order/close', { scope: 'CHECKOUT', schema: QueryOrder, summary: 'Close order' }, async (body, actor) => {
    const v = validate(QueryOrder, body);
    if (!v.ok) return v.failure;
    const r = await orders.close(actor.merchantId, v.value);
    return r.ok ? { data: true } : fail(r.code);
  });

  route('/certificates', { scope: null, parameterless: true, summary: 'Webhook signing key' }, async () => {
    const key = await deps.signingKeys.current('pay-webhook');
    return { data: [{ certSerial: key.serial, certPublic: key.publicKeyPem }] };
  });

  const valuation = (asset: string, available: string) => {
    const usd = deps.prices.cryptoUsd(asset);
    const btc = deps.prices.cryptoUsd('BTC');
    const fiatValue = usd ? new Decimal(available).mul(usd) : new Decimal(0);
    return { fiat: num8(fiatValue.toFixed(8)), btc: num8(btc ? fiatValue.div(btc).toFixed(8) : '0') };
  };

  route('/v2/balance', { scope: 'BALANCE', schema: BalanceV2, summary: 'Wallet balance (v2)' }, async (body, actor) => {
    const v = validate(BalanceV2, body);
    if (!v.ok) return v.failure;
    const balances = v.value.wallet === 'SPOT_WALLET' ? [] : await deps.ledgerBalances(actor.merchantId);
    const list = balances
      .filter((b) => !v.value.currency || b.asset === v.value.currency)
      .map((b) => {
        const val = valuation(b.asset, b.available);
        return { asset: b.asset, available: num8(b.available), freeze: num8(b.held), availableFiatValuation: val.fiat, availableBtcValuation: val.btc };
      });
    return { data: { wallet: v.value.wallet, updateTime: String(Date.now()), fiat: 'USD', balance: list } };
  });

  route('/balance', { scope: 'BALANCE', schema: BalanceV1, summary: 'Wallet balance (v1)' }, async (body, actor) => {
    const v = validate(BalanceV1, body);
    if (!v.ok) return v.failure;
    const b = (await deps.ledgerBalances(actor.merchantId)).find((x) => x.asset === v.value.currency);
    const available = b?.available ?? '0';
    const val = valuation(v.value.currency, available);
    return { data: { balance: num8(available), asset: v.value.currency, fiat: 'USD', availableFiatValuation: val.fiat, availableBtcValuation: val.btc } };
  });

}
