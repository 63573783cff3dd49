import type { FastifyInstance, HTTPMethods } from 'fastify';
import { raw } from '../platform/json.ts';
import { Decimal } from '../platform/money.ts';
import type { ConnectAuth, ConnectCaller } from './auth.ts';
import { cardCountrySupported } from '../cards/support.ts';
import type { Catalog } from './catalog.ts';
import type { Logger } from '../platform/logger.ts';
import { NoParameters, signedRoutes, type SignedFamily } from '../platform/signed-route.ts';
import { fieldPath, wireCodeOf } from '../platform/validation.ts';
import { connectEnvelope, connectFailure, type ConnectDomainError, type ConnectFailure } from './codes.ts';
import { wireOrderItem } from './notify.ts';
import type { ConnectOrders } from './orders/service.ts';
import { BuyWithdrawCrypto, CheckIpAddress, GetQuote, QueryOrderList } from './schemas.ts';

/**
 * The signed partner API (binance-connect.md §4) under /gateway-api/v1/public/open-api/connect/ and its
 * /bapi/fiat/ alias. Every enveloped answer is HTTP 200; an unknown path under the prefixes is 404 OPE100000001.
 */
export const CONNECT_PREFIXES = ['/gateway-api/v1/public/open-api/connect', '/bapi/fiat/v1/public/open-api/connect'];

const num = (s: string) => raw(new Decimal(s).toFixed());

const fromErr = (e: { code: ConnectDomainError; message?: string; field?: string }) =>
  connectFailure(e.code, { field: e.field, detail: e.message });

/**
 * Binance Connect as a signed family: RSA-SHA256 over the raw bytes (auth.ts); every enveloped answer is HTTP 200 with
 * the partner's success code, an unknown path under the prefixes HTTP 404 with OPE100000001.
 */
function connectFamily(auth: ConnectAuth): SignedFamily<null, ConnectCaller, ConnectFailure> {
  return {
    tag: 'Binance Connect',
    prefixes: CONNECT_PREFIXES,
    methods: ['POST'],
    authenticate: (req) => auth(req),
    body: (c) => c.body,
    invalid: (error) => {
      const issue = error.issues[0]!;
      return connectFailure((wireCodeOf(issue) as ConnectDomainError | undefined) ?? 'INVALID_PARAMETER', {
        field: fieldPath(issue.path) || 'body',
        detail: issue.message,
      });
    },
    send: async (reply, answer, caller) =>
      reply.type('application/json').send(connectEnvelope(answer, caller?.partner.successCode)),
    // A client's error (body too large, unparsable Content-Type) is a parameter error; only the rest is a system error.
    error: (error, client) =>
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? connectFailure('INVALID_PARAMETER', { field: 'body', detail: 'body too large' })
        : client
          ? connectFailure('INVALID_PARAMETER', { field: 'body', detail: String(error.message).slice(0, 256) })
          : connectFailure('SYSTEM_ERROR'),
    isInternal: (f) => f.code === 'OPE100000001',
    notFound: { prefixes: CONNECT_PREFIXES, failure: connectFailure('SYSTEM_ERROR', { detail: 'unknown path' }) },
  };
}

export function registerConnectRoutes(
  app: FastifyInstance,
  deps: { auth: ConnectAuth; catalog: Catalog; orders: ConnectOrders; publicUrl: string; logger: Logger },
) {
  const { catalog, orders, publicUrl } = deps;
  signedRoutes(app, connectFamily(deps.auth), deps.logger, (route) => {
    const lists = ['GET', 'POST'] as HTTPMethods[];

    route(
      {
        path: '/get-crypto-network-list',
        summary: 'Crypto × network list with indicative USD price',
        schema: NoParameters,
        options: null,
        methods: lists,
      },
      async () => ({
        data: catalog.networks().map((n) => ({
          cryptoCurrency: n.asset,
          network: n.network,
          memoRequired: n.memoRequired,
          addressRegex: n.addressRegex,
          memoRegex: n.memoRegex,
          withdrawFee: num(n.withdrawFee),
          withdrawMin: num(n.withdrawMin),
          withdrawMax: num(n.withdrawMax),
          withdrawIntegerMultiple: num(n.withdrawIntegerMultiple),
          contractAddress: n.contractAddress,
          price: num(n.priceUsd),
        })),
      }),
    );

    route(
      {
        path: '/get-trade-pair-list',
        summary: 'Fiat × crypto pairs with per-order limits',
        schema: NoParameters,
        options: null,
        methods: lists,
      },
      async (_b, c) => ({
        data: catalog.pairs(c.partner).map((p) => ({
          fiatCurrency: p.fiatCurrency,
          cryptoCurrency: p.cryptoCurrency,
          paymentMethod: 'card',
          size: p.size,
          quotation: num(p.quotation),
          minLimit: num(p.minLimit),
          maxLimit: num(p.maxLimit),
        })),
      }),
    );

    route(
      {
        path: '/get-quote',
        summary: 'Indicative quote: price, user fee, network fee, crypto amount',
        schema: GetQuote,
        options: null,
      },
      async (b, { partner }) => {
        const fiat = b.fiatCurrency.toUpperCase();
        const crypto = b.cryptoCurrency.toUpperCase();
        if (!catalog.pair(partner, fiat, crypto))
          return connectFailure('UNSUPPORTED_TRADE_PAIR', { detail: `${fiat}/${crypto} is not a listed pair` });
        const q = catalog.quote(partner, {
          fiat,
          crypto,
          network: b.cryptoNetwork.toUpperCase(),
          amount: b.fiatAmount,
        });
        if (!q.ok && q.code === 'UNSUPPORTED_NETWORK') return fromErr(q);
        const pm = orders.paymentMethodOk(b.paymentMethod);
        if (!pm.ok) return fromErr(pm);
        if (!q.ok) return fromErr({ ...q, field: q.code === 'INVALID_PARAMETER' ? 'fiatAmount' : q.field });
        if (b.countryCode !== null && !cardCountrySupported(b.countryCode)) {
          return connectFailure('REGION_RESTRICTED', {
            detail: `neither Visa nor Mastercard is supported for ${b.countryCode.toUpperCase()}`,
          });
        }
        return {
          data: {
            quotePrice: num(q.value.quotePrice),
            userFee: num(q.value.userFee),
            networkFee: num(q.value.networkFee),
            cryptoAmount: num(q.value.cryptoAmount),
          },
        };
      },
    );

    for (const path of ['/buy-withdraw-crypto', '/trade']) {
      // The order's fields are checked by the order service, in the order the spec lists its errors (§4.4).
      route(
        {
          path,
          summary:
            path === '/trade' ? 'Alias of buy-withdraw-crypto' : 'Create a buy order and its hosted buy-flow link',
          schema: BuyWithdrawCrypto,
          options: null,
        },
        async (body, { partner }) => {
          const r = await orders.create(partner, body);
          if (!r.ok) return fromErr(r);
          const { order, token, bindingStatus } = r.value;
          return {
            data: {
              eternalRedirectUrl: `${publicUrl}/en/connect/buyflow?token=${token}`,
              token,
              bindingStatus,
              orderId: order.orderId,
              expiredTime: raw(String(order.expiredTime)),
            },
          };
        },
      );
    }

    route(
      {
        path: '/query-order-list',
        summary: 'An order by merchantOrderId (or orderId)',
        schema: QueryOrderList,
        options: null,
      },
      async (b, { partner }) => {
        const r = await orders.get(partner.code, b);
        if (!r.ok) return connectFailure('ORDER_NOT_FOUND');
        return { data: [wireOrderItem(r.value)] };
      },
    );

    route(
      { path: '/check-ip-address', summary: 'Whether an end-user IP may buy', schema: CheckIpAddress, options: null },
      async (b) => ({ data: orders.ipCheck(b.ip) }),
    );
  });
}
