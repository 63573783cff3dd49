import type { Sessions } from '../../accounts/service.ts';
import { adminError, adminGuard } from '../../platform/admin-auth.ts';
import { raw } from '../../platform/json.ts';
import { payDomainFailure } from '../codes.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import type { OrderService } from '../orders/service.ts';
import { ExecuteQuote, GetQuote, GetToSelector, PutPairs, QueryTradeOrder } from './schemas.ts';
import { createConvertService, displayRate, type ConvertService, type Pair } from './service.ts';

/** A decimal as a JSON number with its exact digits (the published samples write these as numbers). */
const num = (v: string) => raw(v);
/** A rate on the wire: 8 decimals at most, rounded down (displayRate); amounts come from the full-precision rate. */
const rate = (v: string) => raw(displayRate(v));

/**
 * Convert (binance-pay-extended.md §15): /otc-portal/get-to-selector, get-quote, execute-quote, query-trade-order,
 * feature `convert`, TSP scope CONVERT (§18.2); the operator's pairs at PUT/GET /admin/v1/convert/pairs (§18.5).
 */
export function createConvertModule(
  deps: PayExtensionDeps & { orders: OrderService; sessions: Sessions },
): PayExtension & { convert: ConvertService } {
  const convert = createConvertService({
    db: deps.db,
    clock: deps.clock,
    ledger: deps.ledger,
    prices: deps.prices,
    sandbox: deps.config.mode === 'sandbox',
    settings: deps.config.pay.convert,
  });
  const options = { scope: 'CONVERT', feature: 'convert' } as const;
  const wirePair = (p: Pair & { reverse: boolean }) => ({
    coin: p.toAsset,
    fromMin: num(p.fromMin),
    fromMax: num(p.fromMax),
    toMin: num(p.toMin),
    toMax: num(p.toMax),
    reverse: p.reverse,
    base: p.base,
  });
  return {
    convert,
    payRoutes(route) {
      route(
        { path: '/otc-portal/get-to-selector', summary: 'List convert pairs', schema: GetToSelector, options },
        async (input) => {
          const s = await convert.toSelector(input.fromAsset);
          return { data: { coin: s.coin, toList: s.toList.map(wirePair) } };
        },
      );
      route(
        { path: '/otc-portal/get-quote', summary: 'Get a convert quote', schema: GetQuote, options },
        async (input, { actor }) => {
          const r = await convert.quote(actor, input);
          if (!r.ok) return payDomainFailure(r);
          const q = r.value;
          return {
            data: {
              ...(q.quoteId ? { quoteId: q.quoteId } : {}),
              ratio: rate(q.ratio),
              inverseRatio: rate(q.inverseRatio),
              validTimestamp: q.expireTime,
              expireTime: q.expireTime,
              toAmount: num(q.toAmount),
              toCoin: q.toCoin,
              fromAmount: num(q.fromAmount),
              fromCoin: q.fromCoin,
            },
          };
        },
      );
      route(
        { path: '/otc-portal/execute-quote', summary: 'Execute a convert quote', schema: ExecuteQuote, options },
        async (input, { actor }) => {
          const r = await convert.execute(actor.merchantId, input.quoteId);
          if (!r.ok) return payDomainFailure(r);
          const o = r.value;
          return {
            data: {
              orderId: o.orderId,
              createTime: o.createTime,
              orderStatus: o.status,
              quotePrice: rate(o.ratio),
              inversePrice: rate(o.inverseRatio),
              fromCoin: o.fromAsset,
              fromCoinAmount: num(o.fromAmount),
              toCoin: o.toAsset,
              toCoinAmount: num(o.toAmount),
            },
          };
        },
      );
      route(
        { path: '/otc-portal/query-trade-order', summary: 'Query a convert order', schema: QueryTradeOrder, options },
        async (input, { actor }) => {
          const r = await convert.get(actor.merchantId, input.orderId);
          if (!r.ok) return payDomainFailure(r);
          const o = r.value;
          return {
            data: {
              orderId: o.orderId,
              orderStatus: o.status,
              fromAsset: o.fromAsset,
              fromAmount: num(o.fromAmount),
              toAsset: o.toAsset,
              toAmount: num(o.toAmount),
              ratio: rate(o.ratio),
              inverseRatio: rate(o.inverseRatio),
            },
          };
        },
      );
    },
    routes(app) {
      const guard = adminGuard(deps.adminToken);
      const tags = ['Admin'];
      const security = [{ adminToken: [] }];
      app.register(async (r) => {
        r.addHook('onRequest', guard);
        r.get(
          '/admin/v1/convert/pairs',
          { schema: { tags, security, summary: 'Convert pairs in effect (§15.5)' } },
          async () => ({ pairs: await convert.pairs() }),
        );
        r.put(
          '/admin/v1/convert/pairs',
          { schema: { tags, security, summary: 'Set the convert pairs, limits, prices and spreads (§15.5)' } },
          async (req, reply) => {
            const body = PutPairs.safeParse(req.body);
            if (!body.success) {
              const issue = body.error.issues[0]!;
              return adminError(reply, 400, 'INVALID_REQUEST', `${issue.path.join('.') || 'body'}: ${issue.message}`);
            }
            const res = await convert.setPairs(body.data.pairs);
            if (!res.ok) return adminError(reply, 400, res.code, res.message);
            return { pairs: res.value };
          },
        );
      });
    },
  };
}
