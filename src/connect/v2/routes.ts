import type { FastifyInstance, HTTPMethods } from 'fastify';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import { raw } from '../../platform/json.ts';
import type { Logger } from '../../platform/logger.ts';
import { requestHeader, signedRoutes, type SignedFamily } from '../../platform/signed-route.ts';
import type { PriceSource } from '../../prices/service.ts';
import type { Catalog } from '../catalog.ts';
import type { ConnectOrders } from '../orders/service.ts';
import type { PartnerService } from '../partners.ts';
import { createGen2Auth, type Gen2Auth, type Gen2Caller, type Gen2EndpointOptions } from './auth.ts';
import { gen2Envelope, gen2Failure, type Gen2DomainError, type Gen2Failure } from './codes.ts';
import { createGen2Discovery } from './discovery.ts';
import type { PreOrders } from './preorder.ts';
import type { Gen2Sandbox } from './sandbox.ts';
import { wireOrder2 } from './wire.ts';

/**
 * The gen-2 partner API (binance-connect-v2.md) under /papi/v1/ramp/connect/ (and /papi/v2/ramp/connect/ for the
 * payment-method lists), declared as a signed family like every other. Every enveloped answer is HTTP 200; an
 * unknown path under the prefixes is HTTP 404 `1130101 Not found`; a method the op does not serve is HTTP 405
 * `1130303` naming `method` (§2). An `x-trace-id` request header is echoed on the answer (§1).
 */
export const GEN2_PREFIX_V1 = '/papi/v1/ramp/connect';
export const GEN2_PREFIX_V2 = '/papi/v2/ramp/connect';

/** A failure with the HTTP status it travels with when not 200 (405 for a wrong method). */
type RouteFailure = Gen2Failure & { http?: number };
type Opts = Gen2EndpointOptions & { methods: HTTPMethods[] };

/** Every method reaches the endpoint, so a wrong one is answered 405 with the family's envelope, not 404. */
const ROUTED: HTTPMethods[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const POST: Opts = { list: false, methods: ['POST'] };
/** The parameter-less list ops answer GET too (§1 Decision), an empty body signed as empty (§3.2). */
const LIST: Opts = { list: true, methods: ['GET', 'POST'] };
/** Ops Rampart does not serve yet (§10): any authenticated request, body or none, answers 1130307. */
const UNSUPPORTED: Opts = { list: true, methods: ['POST'] };
const TRACE_ID = /^[\x21-\x7e]{1,128}$/;

const fromErr = (e: { code: Gen2DomainError; field?: string }) => gen2Failure(e.code, e.field);

/** The body schema documents the fields; validation is the ops' own, in the spec's table order (first failure wins). */
type BodySchema = z.ZodType<Record<string, unknown>>;
const fields = (doc: Record<string, string>): BodySchema =>
  z.looseObject(Object.fromEntries(Object.entries(doc).map(([k, d]) => [k, z.unknown().optional().describe(d)])));
const NoFields: BodySchema = z.looseObject({});

function gen2Family(auth: Gen2Auth, prefix: string, logger: Logger): SignedFamily<Opts, Gen2Caller, RouteFailure> {
  return {
    tag: 'Binance Connect (generation 2)',
    prefixes: [prefix],
    methods: ROUTED,
    async authenticate(req, opts) {
      if (!opts.methods.includes(req.method as HTTPMethods))
        return { ok: false, failure: { ...gen2Failure('ILLEGAL_PARAMETERS', 'method'), http: 405 } };
      return auth(req, opts);
    },
    body: (c) => c.body,
    invalid: (error) => gen2Failure('ILLEGAL_PARAMETERS', error.issues[0]?.path.join('.') || 'body'),
    async send(reply, answer) {
      const trace = requestHeader(reply.request, 'x-trace-id');
      if (trace !== undefined && TRACE_ID.test(trace)) {
        // §1: the partner's trace id is logged with the answer's code and echoed, so both sides can find the call.
        reply.header('x-trace-id', trace);
        const code = 'data' in answer ? '000000' : answer.code;
        logger.info({ traceId: trace, code, url: reply.request.url }, 'Connect gen-2 request');
      }
      if (!('data' in answer) && answer.http) reply.code(answer.http);
      return reply.type('application/json').send(gen2Envelope(answer));
    },
    // A client's error raised by fastify (body over the transport limit, unparsable Content-Type) is the body's.
    error: (error, client) =>
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || client
        ? gen2Failure('ILLEGAL_PARAMETERS', 'body')
        : gen2Failure('SYSTEM_ERROR'),
    isInternal: (f) => f.code === '1130101',
    notFound: { prefixes: [prefix], failure: { code: '1130101', message: 'Not found' } },
  };
}

export function registerGen2Routes(
  app: FastifyInstance,
  deps: {
    partners: PartnerService;
    catalog: Catalog;
    prices: PriceSource;
    orders: ConnectOrders;
    preOrders: PreOrders;
    sandbox: Gen2Sandbox;
    config: Config;
    logger: Logger;
  },
) {
  const { orders, preOrders, sandbox, config, logger } = deps;
  const auth = createGen2Auth({
    partners: deps.partners,
    timestampToleranceMs: config.connect.timestampToleranceMs,
    ratePerSecond: config.connect.ratePerSecond,
  });
  const discovery = createGen2Discovery({ catalog: deps.catalog, prices: deps.prices });
  const sandboxMode = config.mode === 'sandbox';
  const unsupported = async () => gen2Failure('UNSUPPORTED_ORDER_TYPE');

  signedRoutes(app, gen2Family(auth, GEN2_PREFIX_V1, logger), logger, (route) => {
    const op = (path: string, summary: string, options: Opts, schema: BodySchema = NoFields) => ({
      path: `/${path}`,
      summary,
      schema,
      options,
      documentedMethods: options.methods,
    });

    route(op('buy/trading-pairs', 'Fiat and crypto currencies on offer (§4.1)', LIST), async (_b, c) => ({
      data: discovery.tradingPairs(c.partner),
    }));
    route(
      op(
        'buy/p2p/trading-pairs',
        'P2P-only pairs (§4.2): none, Rampart has no P2P desk',
        LIST,
        fields({ fiatCurrency: 'optional fiat filter' }),
      ),
      async (b) => {
        const r = discovery.p2pTradingPairs(b);
        return r.ok ? { data: r.value } : fromErr(r);
      },
    );
    route(op('crypto-network', 'Networks per crypto, with fees and limits (§4.3)', LIST), async () => ({
      data: discovery.cryptoNetworks(),
    }));
    route(
      op(
        'buy/payment-method-list',
        'Payment methods and limits for one pair and amount (§4.4)',
        POST,
        fields({
          fiatCurrency: 'listed fiat (required)',
          cryptoCurrency: 'listed crypto (required unless contractAddress)',
          totalAmount: 'amount > 0, at most 8 decimals (required)',
          amountType: '1: totalAmount is fiat, 2: crypto (required)',
          network: 'network code (required with contractAddress)',
          contractAddress: "a listed token's contract",
          language: 'LanguageCode[-RegionCode] (alias lang)',
        }),
      ),
      async (b, c) => {
        const r = discovery.paymentMethods(c.partner, b);
        return r.ok ? { data: r.value } : fromErr(r);
      },
    );
    route(
      op(
        'buy/estimated-quote',
        'Indicative quote: total, price, fee, network fee (§4.6)',
        POST,
        fields({
          fiatCurrency: 'listed fiat (required)',
          requestedAmount: 'amount > 0, at most 8 decimals (required)',
          amountType: '1: fiat, 2: crypto (required)',
          payMethodCode: 'BUY_CARD (required)',
          payMethodSubCode: 'card',
          cryptoCurrency: 'listed crypto (required unless contractAddress)',
          network: 'default: the first network of the crypto',
          contractAddress: "a listed token's contract",
          address: 'destination, validated when present',
        }),
      ),
      async (b, c) => {
        const r = discovery.estimatedQuote(c.partner, b);
        return r.ok ? { data: r.value } : fromErr(r);
      },
    );

    const preOrder = fields({
      externalOrderId: 'your order id: 1 to 64 letters and digits, unique (required)',
      fiatCurrency: 'listed fiat (default USD)',
      cryptoCurrency: 'listed crypto',
      amountType: '1: fiat, 2: crypto (required)',
      requestedAmount: 'amount > 0, at most 8 decimals',
      payMethodCode: 'BUY_CARD',
      payMethodSubCode: 'card',
      network: 'network listed for the crypto (required)',
      address: 'destination address (required)',
      memo: 'memo or tag where the network needs one',
      redirectUrl: 'https URL on a registered domain',
      failRedirectUrl: 'https URL on a registered domain',
      redirectDeepLink: 'deep link with a registered scheme',
      failRedirectDeepLink: 'deep link with a registered scheme',
      clientIp: "the end user's IP",
      clientType: 'web or mobile',
      customization: 'flags enabled for you (§7)',
      contractAddress: "a listed token's contract",
      userData: 'opaque string of at most 1024 characters, echoed in order and the webhook',
    });
    const createPreOrder = async (b: Record<string, unknown>, c: Gen2Caller) => {
      const r = await preOrders.create(c.partner, b);
      if (!r.ok) return fromErr(r);
      return { data: { link: r.value.link, linkExpireTime: raw(String(r.value.linkExpireTime)) } };
    };
    route(op('buy/pre-order', 'Create the order, get the landing link (§4.7)', POST, preOrder), createPreOrder);
    // §1 Decision: the "gray" test path some clients call, in the sandbox only.
    if (sandboxMode)
      route(op('gray/buy/pre-order', 'Alias of buy/pre-order (sandbox only)', POST, preOrder), createPreOrder);

    route(
      op('order', 'An order by externalOrderId (§4.8)', POST, fields({ externalOrderId: 'your order id (required)' })),
      async (b, c) => {
        const id = b.externalOrderId;
        if (typeof id !== 'string' || !/^[A-Za-z0-9]{1,64}$/.test(id))
          return gen2Failure('ILLEGAL_PARAMETERS', 'externalOrderId');
        const r = await preOrders.find(c.partner, id);
        if (!r.ok) return fromErr(r);
        return { data: wireOrder2(r.value, { orderDetailLink: orders.orderDetailLink(r.value) }) };
      },
    );

    if (sandboxMode) {
      route(
        op(
          'sandbox/place-order',
          'Sandbox: place an order (§9)',
          POST,
          fields({
            externalOrderId: 'letters and digits',
            fiatCurrency: 'fiat',
            cryptoCurrency: 'crypto',
            requestedAmount: 'amount',
            amountType: '1 or 2',
            type: 'BUY, BUY_P2P or SEND',
          }),
        ),
        async (b, c) => {
          const r = await sandbox.placeOrder(c.partner, b);
          return r.ok ? { data: null } : fromErr(r);
        },
      );
      route(
        op(
          'sandbox/order-status-transition',
          'Sandbox: move an order to a target status (§9)',
          POST,
          fields({ externalOrderId: 'your order id', targetStatus: 'the status to reach' }),
        ),
        async (b, c) => {
          const r = await sandbox.transition(c.partner, b);
          return r.ok ? { data: null } : fromErr(r);
        },
      );
    }

    // §10: sell, swap and deposit answer 1130307 until enabled.
    for (const path of [
      'sell/trading-pairs',
      'sell/payment-method-list',
      'sell/estimated-quote',
      'sell/pre-order',
      'deposit/initiate',
      'deposit/authorization',
      'deposit/report',
    ])
      route(op(path, 'Not served yet: 1130307 (§10)', UNSUPPORTED), unsupported);
  });

  signedRoutes(app, gen2Family(auth, GEN2_PREFIX_V2, logger), logger, (route) => {
    route(
      {
        path: '/buy/payment-method-list',
        summary: 'Every payment method per fiat (§4.5)',
        schema: fields({ language: 'LanguageCode[-RegionCode] (alias lang)' }),
        options: LIST,
        documentedMethods: LIST.methods,
      },
      async (b, c) => {
        const r = discovery.paymentMethodsV2(c.partner, b);
        return r.ok ? { data: r.value } : fromErr(r);
      },
    );
    route(
      {
        path: '/sell/payment-method-list',
        summary: 'Not served yet: 1130307 (§10)',
        schema: NoFields,
        options: UNSUPPORTED,
        documentedMethods: UNSUPPORTED.methods,
      },
      unsupported,
    );
  });
}
