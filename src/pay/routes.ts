import type { z } from 'zod';
import { raw } from '../platform/json.ts';
import type { Balance } from '../platform/ledger/service.ts';
import { Decimal } from '../platform/money.ts';
import type { SigningKeys } from '../platform/signing-keys.ts';
import type { PriceSource } from '../prices/service.ts';
import type { PayCaller } from './auth.ts';
import { payDomainFailure, payFailure, type PayFailure } from './codes.ts';
import type { PayRoute } from './family.ts';
import { NoParameters, type Answer } from '../platform/signed-route.ts';
import { num8 } from './events.ts';
import type { MerchantWallet } from './wallets.ts';
import { wirePaymentInfo, type Actor, type NewOrder, type Order, type OrderService } from './orders/service.ts';
import {
  BalanceV1,
  BalanceV2,
  CloseOrder,
  CreateOrderV1,
  CreateOrderV2,
  CreateOrderV3,
  QueryOrder,
  QueryOrderV1,
} from './schemas.ts';

/** The order, certificate and balance endpoints of the Pay merchant API (binance-pay.md §4). */
export function registerPayRoutes(
  route: PayRoute,
  deps: {
    orders: OrderService;
    ledgerBalances: (merchantId: string, wallet: MerchantWallet) => Promise<Balance[]>;
    prices: PriceSource;
    signingKeys: SigningKeys;
    publicUrl: string;
  },
) {
  const { orders, publicUrl } = deps;
  const mismatch = (): PayFailure => payFailure('400004', 'merchantId does not match the API key.');

  const links = (o: Order) => {
    const checkoutUrl = `${publicUrl}/checkout/${o.checkoutToken}`;
    return {
      qrcodeLink: `${checkoutUrl}/qr.png`,
      qrContent: checkoutUrl,
      checkoutUrl,
      deeplink: checkoutUrl,
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
    return {
      ...base,
      currency: o.currency,
      totalFee: o.orderAmount,
      fiatCurrency: o.fiatCurrency,
      fiatAmount: o.fiatAmount,
    };
  };

  const queryView = (o: Order, v1: boolean) => {
    const common = {
      merchantId: raw(o.merchantId),
      prepayId: o.prepayId,
      transactionId: o.transactionId,
      merchantTradeNo: o.merchantTradeNo,
      status: v1 && o.status === 'FULL_REFUNDED' ? 'REFUNDED' : o.status,
      currency: o.currency,
    };
    const tail = {
      openUserId: o.openUserId,
      passThroughInfo: o.passThroughInfo,
      commission: o.commission,
      transactTime: o.transactTime === null ? null : raw(String(o.transactTime)),
      createTime: raw(String(o.createTime)),
      paymentInfo: o.paymentInfo ? wirePaymentInfo(o.paymentInfo) : null,
    };
    if (v1)
      return {
        ...common,
        totalFee: o.orderAmount,
        tradeType: o.terminalType,
        productName: o.productName,
        productDetail: o.productDetail,
        ...tail,
      };
    return { ...common, orderAmount: o.orderAmount, ...tail };
  };

  async function create(actor: Actor, input: NewOrder, caller: PayCaller): Promise<Answer<PayFailure>> {
    const r = await orders.create(actor, input, caller.nonce);
    return r.ok ? { data: createView(r.value) } : payDomainFailure(r);
  }

  const common = (b: z.infer<typeof CreateOrderV3> | z.infer<typeof CreateOrderV2>) => ({
    merchantTradeNo: b.merchantTradeNo,
    terminalType: b.env.terminalType,
    currency: b.currency,
    orderAmount: b.orderAmount,
    fiatCurrency: b.fiatCurrency,
    fiatAmount: b.fiatAmount,
    description: b.description,
    supportPayCurrency: b.supportPayCurrency,
    returnUrl: b.returnUrl,
    cancelUrl: b.cancelUrl,
    webhookUrl: b.webhookUrl,
    passThroughInfo: b.passThroughInfo,
    universalUrlAttach: b.universalUrlAttach,
    orderExpireTime: b.orderExpireTime,
    subMerchantId: b.merchant?.subMerchantId,
    extra: {
      env: b.env,
      appId: b.appId,
      shipping: b.shipping,
      buyer: b.buyer,
      directDebitContract: b.directDebitContract,
      orderTags: b.orderTags,
      voucherCode: b.voucherCode,
      qrCodeReferId: b.qrCodeReferId,
    },
  });
  const product = (g: {
    goodsCategory?: string | null;
    goodsType: string;
    goodsName: string;
    goodsDetail?: string | null;
  }) => ({
    productType: g.goodsCategory ?? g.goodsType,
    productName: g.goodsName,
    productDetail: g.goodsDetail ?? null,
  });

  route(
    {
      path: '/v3/order',
      summary: 'Create order (v3)',
      schema: CreateOrderV3,
      options: { scope: 'CHECKOUT', deferNonce: true },
    },
    async (b, { actor, caller }) => {
      return create(
        actor,
        { apiVersion: 'v3', ...common(b), goods: b.goodsDetails, ...product(b.goodsDetails[0]!) },
        caller,
      ); // the schema requires one item at least
    },
  );

  route(
    {
      path: '/v2/order',
      summary: 'Create order (v2, compatibility)',
      schema: CreateOrderV2,
      options: { scope: 'CHECKOUT', deferNonce: true },
    },
    async (b, { actor, caller }) => {
      return create(actor, { apiVersion: 'v2', ...common(b), goods: [b.goods], ...product(b.goods) }, caller);
    },
  );

  route(
    {
      path: '/order',
      summary: 'Create order (v1, compatibility)',
      schema: CreateOrderV1,
      options: { scope: 'CHECKOUT', deferNonce: true },
    },
    async (b, { actor, caller }) => {
      if (b.merchantId !== actor.merchantId) return mismatch();
      return create(
        actor,
        {
          apiVersion: 'v1',
          merchantTradeNo: b.merchantTradeNo,
          terminalType: b.tradeType,
          currency: b.currency,
          orderAmount: b.totalFee,
          goods: [],
          productType: b.productType,
          productName: b.productName,
          productDetail: b.productDetail,
          description: b.productDetail,
          returnUrl: b.returnUrl,
          cancelUrl: b.cancelUrl,
          orderExpireTime: b.orderExpireTime,
          subMerchantId: b.subMerchantId,
        },
        caller,
      );
    },
  );

  route(
    {
      path: '/v2/order/query',
      summary: 'Query order (v2)',
      schema: QueryOrder,
      // The nonce is recorded by the read's own statement (one round trip); other outcomes record it on the way out.
      options: { scope: 'CHECKOUT', deferNonce: true },
    },
    async (q, { actor, caller }) => {
      const r = await orders.get(actor.merchantId, q, caller.nonce);
      return r.ok ? { data: queryView(r.value, false) } : payDomainFailure(r);
    },
  );

  route(
    {
      path: '/order/query',
      summary: 'Query order (v1, compatibility)',
      schema: QueryOrderV1,
      options: { scope: 'CHECKOUT' },
    },
    async (q, { actor }) => {
      if (q.merchantId !== actor.merchantId) return mismatch();
      const r = await orders.get(actor.merchantId, q);
      return r.ok ? { data: queryView(r.value, true) } : payDomainFailure({ code: r.code });
    },
  );

  route(
    { path: '/order/close', summary: 'Close order', schema: CloseOrder, options: { scope: 'CHECKOUT' } },
    async (q, { actor }) => {
      const r = await orders.close(actor.merchantId, q);
      return r.ok ? { data: true } : payDomainFailure({ code: r.code });
    },
  );

  route(
    {
      path: '/certificates',
      summary: 'Webhook signing key',
      schema: NoParameters,
      options: { scope: null, parameterless: true },
    },
    async () => {
      const key = await deps.signingKeys.current('pay-webhook');
      return { data: [{ certSerial: key.serial, certPublic: key.publicKeyPem }] };
    },
  );

  const valuation = (asset: string, available: string) => {
    const usd = deps.prices.cryptoUsd(asset);
    const btc = deps.prices.cryptoUsd('BTC');
    const fiatValue = usd ? new Decimal(available).mul(usd) : new Decimal(0);
    return { fiat: num8(fiatValue.toFixed(8)), btc: num8(btc ? fiatValue.div(btc).toFixed(8) : '0') };
  };

  route(
    { path: '/v2/balance', summary: 'Wallet balance (v2)', schema: BalanceV2, options: { scope: 'BALANCE' } },
    async (q, { actor }) => {
      const balances = await deps.ledgerBalances(actor.merchantId, q.wallet);
      const list = balances
        .filter((b) => !q.currency || b.asset === q.currency)
        .map((b) => {
          const val = valuation(b.asset, b.available);
          return {
            asset: b.asset,
            available: num8(b.available),
            freeze: num8(b.held),
            availableFiatValuation: val.fiat,
            availableBtcValuation: val.btc,
          };
        });
      return { data: { wallet: q.wallet, updateTime: String(Date.now()), fiat: 'USD', balance: list } };
    },
  );

  route(
    { path: '/balance', summary: 'Wallet balance (v1)', schema: BalanceV1, options: { scope: 'BALANCE' } },
    async (q, { actor }) => {
      const b = (await deps.ledgerBalances(actor.merchantId, q.wallet ?? 'FUNDING_WALLET')).find(
        (x) => x.asset === q.currency,
      );
      const available = b?.available ?? '0';
      const val = valuation(q.currency, available);
      return {
        data: {
          balance: num8(available),
          asset: q.currency,
          fiat: 'USD',
          availableFiatValuation: val.fiat,
          availableBtcValuation: val.btc,
        },
      };
    },
  );
}
