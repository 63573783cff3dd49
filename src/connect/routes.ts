import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidIpOrCidr } from '../platform/ip.ts';
import { raw } from '../platform/json.ts';
import { Decimal } from '../platform/money.ts';
import type { ConnectAuth, ConnectCaller } from './auth.ts';
import { cardCountrySupported } from '../cards/support.ts';
import type { Catalog } from './catalog.ts';
import { connectEnvelope, connectFailure, type ConnectResult } from './codes.ts';
import { wireOrderItem } from './notify.ts';
import { reqAmount, reqString, optString, type ConnectOrders } from './orders/service.ts';

/**
 * The signed partner API (binance-connect.md §4) under /gateway-api/v1/public/open-api/connect/ and its
 * /bapi/fiat/ alias. Every enveloped answer is HTTP 200; an unknown path under the prefixes is 404 OPE100000001.
 */
export const CONNECT_PREFIXES = ['/gateway-api/v1/public/open-api/connect', '/bapi/fiat/v1/public/open-api/connect'];

const num = (s: string) => raw(new Decimal(s).toFixed());

type Handler = (caller: ConnectCaller) => Promise<ConnectResult>;

const fromErr = (e: { code: string; message?: string; field?: string }) => connectFailure(e.code, { field: e.field, detail: e.message });

export function registerConnectRoutes(app: FastifyInstance, deps: { auth: ConnectAuth; catalog: Catalog; orders: ConnectOrders; publicUrl: string; log?: (e: unknown) => void }) {
  const { auth, catalog, orders, publicUrl } = deps;

  const run = (handler: Handler) => async (req: FastifyRequest, reply: FastifyReply) => {
    const send = (r: ConnectResult, successCode?: string) => reply.code(200).type('application/json').send(connectEnvelope(r, successCode));
    const a = await auth(req);
    if (!a.ok) return send(a.failure);
    return send(await handler(a.caller), a.caller.partner.successCode);
  };

  const ops: { op: string; methods: ('GET' | 'POST')[]; summary: string; handler: Handler }[] = [
    {
      op: 'get-crypto-network-list', methods: ['GET', 'POST'], summary: 'Crypto × network list with indicative USD price',
      handler: async () => ({
        data: catalog.networks().map((n) => ({
          cryptoCurrency: n.asset, network: n.network, memoRequired: n.memoRequired, addressRegex: n.addressRegex, memoRegex: n.memoRegex,
          withdrawFee: num(n.withdrawFee), withdrawMin: num(n.withdrawMin), withdrawMax: num(n.withdrawMax),
          withdrawIntegerMultiple: num(n.withdrawIntegerMultiple), contractAddress: n.contractAddress, price: num(n.priceUsd),
        })),
      }),
    },
    {
      op: 'get-trade-pair-list', methods: ['GET', 'POST'], summary: 'Fiat × crypto pairs with per-order limits',
      handler: async (c) => ({
        data: catalog.pairs(c.partner).map((p) => ({
          fiatCurrency: p.fiatCurrency, cryptoCurrency: p.cryptoCurrency, paymentMethod: 'card', size: p.size, quotation: num(p.quotation),
          minLimit: num(p.minLimit), maxLimit: num(p.maxLimit),
        })),
      }),
    },
    {
      op: 'get-quote', methods: ['POST'], summary: 'Indicative quote: price, user fee, network fee, crypto amount',
      handler: async ({ partner, body }) => {
        for (const f of ['fiatCurrency', 'cryptoCurrency', 'cryptoNetwork', 'paymentMethod']) {
          const v = reqString(body, f);
          if (!v.ok) return fromErr(v);
        }
        const amount = reqAmount(body, 'fiatAmount');
        if (!amount.ok) return fromErr(amount);
        const country = optString(body, 'countryCode', 2);
        if (!country.ok) return fromErr(country);
        if (country.value !== null && !/^[A-Za-z]{2}$/.test(country.value)) return connectFailure('INVALID_PARAMETER', { field: 'countryCode', detail: 'countryCode must be ISO 3166-1 alpha-2' });
        const fiat = String(body.fiatCurrency).toUpperCase();
        const crypto = String(body.cryptoCurrency).toUpperCase();
        if (!catalog.pair(partner, fiat, crypto)) return connectFailure('UNSUPPORTED_TRADE_PAIR', { detail: `${fiat}/${crypto} is not a listed pair` });
        const q = catalog.quote(partner, { fiat, crypto, network: String(body.cryptoNetwork).toUpperCase(), amount: amount.value });
        if (!q.ok && q.code === 'UNSUPPORTED_NETWORK') return fromErr(q);
        const pm = orders.paymentMethodOk(body.paymentMethod);
        if (!pm.ok) return fromErr(pm);
        if (!q.ok) return fromErr({ ...q, field: q.code === 'INVALID_PARAMETER' ? 'fiatAmount' : q.field });
        if (country.value !== null && !cardCountrySupported(country.value)) {
          return connectFailure('REGION_RESTRICTED', { detail: `neither Visa nor Mastercard is supported for ${country.value.toUpperCase()}` });
        }
        return { data: { quotePrice: num(q.value.quotePrice), userFee: num(q.value.userFee), networkFee: num(q.value.networkFee), cryptoAmount: num(q.value.cryptoAmount) } };
      },
    },
    ...['buy-withdraw-crypto', 'trade'].map((op) => ({
      op, methods: ['POST'] as ('GET' | 'POST')[], summary: op === 'trade' ? 'Alias of buy-withdraw-crypto' : 'Create a buy order and its hosted buy-flow link',
      handler: async ({ partner, body }: ConnectCaller): Promise<ConnectResult> => {
        const r = await orders.create(partner, body);
        if (!r.ok) return fromErr(r);
        const { order, token, bindingStatus } = r.value;
        return {
          data: {
            eternalRedirectUrl: `${publicUrl}/en/connect/buyflow?token=${token}`, token, bindingStatus, orderId: order.orderId, expiredTime: raw(String(order.expiredTime)),
          },
        };
      },
    })),
    {
      op: 'query-order-list', methods: ['POST'], summary: 'An order by merchantOrderId (or orderId)',
      handler: async ({ partner, body }) => {
        const byOrderId = body.merchantOrderId === undefined && body.orderId !== undefined;
        const v = reqString(body, byOrderId ? 'orderId' : 'merchantOrderId');
        if (!v.ok) return fromErr(byOrderId ? v : { ...v, field: 'merchantOrderId' });
        const r = await orders.get(partner.code, byOrderId ? { orderId: v.value } : { merchantOrderId: v.value });
        if (!r.ok) return connectFailure('ORDER_NOT_FOUND');
        return { data: [wireOrderItem(r.value)] };
      },
    },
    {
      op: 'check-ip-address', methods: ['POST'], summary: 'Whether an end-user IP may buy',
      handler: async ({ body }) => {
        const field = body.clientUserIp === undefined && body.userIp !== undefined ? 'userIp' : 'clientUserIp';
        const v = reqString(body, field);
        if (!v.ok) return fromErr(v);
        if (!isValidIpOrCidr(v.value) || v.value.includes('/')) return connectFailure('INVALID_PARAMETER', { field, detail: `${field} must be an IPv4 or IPv6 address` });
        return { data: orders.ipCheck(v.value) };
      },
    },
  ];

  app.register(async (r) => {
    r.setErrorHandler((error: any, _req, reply) => {
      // A client's error (body too large, unparsable Content-Type) is a parameter error; only the rest is a system error.
      const clientError = error?.statusCode >= 400 && error?.statusCode < 500;
      const f = error?.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? connectFailure('INVALID_PARAMETER', { field: 'body', detail: 'body too large' })
        : clientError ? connectFailure('INVALID_PARAMETER', { field: 'body', detail: String(error.message).slice(0, 256) }) : connectFailure('SYSTEM_ERROR');
      if (f.code === 'OPE100000001') deps.log?.(error);
      return reply.code(200).type('application/json').send(connectEnvelope(f));
    });
    for (const prefix of CONNECT_PREFIXES) {
      for (const o of ops) {
        r.route({ method: o.methods, url: `${prefix}/${o.op}`, schema: { tags: ['Binance Connect'], summary: o.summary, hide: prefix.startsWith('/bapi') }, handler: run(o.handler) });
      }
      r.all(`${prefix}/*`, { schema: { hide: true } }, async (_req, reply) => reply.code(404).type('application/json').send(connectEnvelope(connectFailure('SYSTEM_ERROR', { detail: 'unknown path' }))));
    }
  });
}
