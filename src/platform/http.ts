import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import client from 'prom-client';
import { createHash, timingSafeEqual } from 'node:crypto';
import { containsUnstorableText } from './json.ts';
import type { Logger } from './logger.ts';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}

/**
 * Routes of the signed API families validate their own bodies, after the signature check over the raw bytes;
 * fastify only keeps the bytes for them. Every other route gets zod validation from its schema.
 */
const SIGNED_PREFIXES = ['/binancepay/', '/gateway-api/', '/bapi/', '/papi/'];
const isSignedRoute = (url: string) => SIGNED_PREFIXES.some((p) => url.startsWith(p));

/**
 * The OpenAPI tags, in the order /docs shows them; each signed family's says how to sign a request, so an integrator
 * reads the rule at the top of its section (the exact strings of src/pay/auth.ts, src/connect/auth.ts and
 * src/kyc/auth.ts).
 */
const API_TAGS = [
  {
    name: 'Binance Pay',
    description:
      'Merchant API under `/binancepay/openapi/`. Every request is a `POST` with `Content-Type: application/json` ' +
      'and four headers: `BinancePay-Timestamp` (Unix ms, within ±5 min of the server), `BinancePay-Nonce` (32 ' +
      'letters or digits, never reused), `BinancePay-Certificate-SN` (your API key) and `BinancePay-Signature` = ' +
      '`UPPER(HEX(HMAC-SHA512(apiSecret, timestamp + "\\n" + nonce + "\\n" + rawBody + "\\n")))`, computed over the ' +
      'exact bytes you send (an empty body signs as `timestamp\\nnonce\\n\\n`). Answers are `{"status":"SUCCESS",' +
      '"code":"000000","data":…}`, or HTTP 200 with `"status":"FAIL"`, a code and an errorMessage. Amounts are decimal ' +
      'strings.',
  },
  {
    name: 'Binance Connect',
    description:
      'Partner API (first generation) under `/gateway-api/v1/public/open-api/connect/` (alias ' +
      '`/bapi/fiat/v1/public/open-api/connect/`). Headers: `merchantCode`, `timestamp` (Unix ms, within ±5 min) and ' +
      '`x-api-signature` = base64 RSA-SHA256 (PKCS#1 v1.5) with your private key over ' +
      '`rawBody + "&merchantCode=" + merchantCode + "&timestamp=" + timestamp`, or ' +
      '`"merchantCode=" + merchantCode + "&timestamp=" + timestamp` for a GET or an empty body. Calls come from the IPs ' +
      'registered at onboarding. Answers are `{"success":true,"code":"000000","data":…}` (HTTP 200, also for errors, ' +
      'with `OPE1000000NN` codes). Amounts are JSON numbers. `trade` is an alias of `buy-withdraw-crypto`.',
  },
  {
    name: 'Binance Connect (generation 2)',
    description:
      'Partner API (current generation) under `/papi/v1/ramp/connect/` (and `/papi/v2/ramp/connect/` for the ' +
      'payment-method lists). Every op is a `POST` with `Content-Type: application/json` (the parameter-less lists ' +
      'answer `GET` too) and four headers: `X-Tesla-ClientId` and `X-Tesla-SignAccessToken` (issued at onboarding), ' +
      '`X-Tesla-Timestamp` (Unix ms, within ±5 min) and `X-Tesla-Signature` = base64 RSA-SHA256 (PKCS#1 v1.5) with ' +
      'your private key over `rawBody + timestamp` (no separator; an empty or `{}` body may also be signed as the ' +
      'timestamp alone or `"{}" + timestamp`). Calls come from the IPs registered at onboarding. Answers are ' +
      '`{"success":true,"code":"000000","message":"success","data":…}` (HTTP 200, also for errors, with `1130xxx` ' +
      'codes). Amounts are decimal strings.',
  },
  {
    name: 'KYC Sharing',
    description:
      'Broker API under `/bapi/ekyc/v2/public/ekyc/customer/`. Every request is a `POST` with a JSON body naming ' +
      'your `bizEntityKey`, from a whitelisted IP, with `X-SHA2-Signature` = `hex(HMAC-SHA256(secret, rawBody))` over ' +
      'the exact bytes sent (no timestamp or nonce: `requestNo` makes `share-kyc-data` idempotent). Answers are ' +
      '`{"code":"000000","success":true,"data":…}` with HTTP 200, except an IP refusal (403).',
  },
  { name: 'Admin', description: 'Operator API under `/admin/v1/`: `Authorization: Bearer <admin token>`.' },
  { name: 'Admin: Connect partners', description: 'Onboarding Connect partners (admin token).' },
  { name: 'Admin: Connect buy flow', description: 'Connect orders and identity conflicts (admin token).' },
  {
    name: 'Sandbox',
    description:
      'Sandbox helpers under `/sandbox/v1/` (sandbox mode only, admin token): move the clock, fund payers, pay ' +
      'orders, decide KYC and TSP authorizations.',
  },
];

/**
 * Added to swagger-ui's page head: a phone gets a page at its own width, and each tag's description (how to sign the
 * family's requests) goes below the tag's title at full width: swagger-ui lays the title, the description and the
 * expand button out as one flex row, which squeezes the description into a column a few words wide on a phone.
 */
const DOCS_HEAD =
  '<meta name="viewport" content="width=device-width,initial-scale=1">\n' +
  // Written before swagger-ui's stylesheet, so each rule names the h3 to outrank the rule it overrides.
  '<style>@media (max-width: 640px) {' +
  ' .swagger-ui h3.opblock-tag { flex-wrap: wrap; }' +
  ' .swagger-ui h3.opblock-tag > a { flex: 1 1 auto; }' +
  ' .swagger-ui h3.opblock-tag > small { order: 1; flex: 1 0 100%; padding: 8px 0 0; }' +
  '}</style>';

interface HttpOptions {
  logger: Logger;
  trustedProxies: string[];
  publicUrl: string;
  bodyLimit?: number;
  /** Bearer token that opens /metrics to clients other than loopback; unset: loopback only. */
  metricsToken?: string;
}

export async function createHttp(opts: HttpOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: opts.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    trustProxy: opts.trustedProxies.length ? opts.trustedProxies : false,
  }) as unknown as FastifyInstance;
  // Every unsigned route's schema is a zod schema (the type provider's); signed routes validate in signedRoute.
  app.setValidatorCompiler((route) =>
    isSignedRoute(route.url)
      ? () => ({ value: undefined })
      : validatorCompiler(route as Parameters<typeof validatorCompiler>[0]),
  );
  app.setSerializerCompiler(serializerCompiler);

  // Keep the exact bytes of every body: signatures are computed over them, never over a re-serialization.
  const keepRaw = (req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void) => {
    req.rawBody = body;
    if (isSignedRoute(req.url)) return done(null, undefined);
    if (body.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(body.toString('utf8')));
    } catch {
      done(Object.assign(new Error('Request body is not valid JSON.'), { statusCode: 400 }));
    }
  };
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, keepRaw);
  await app.register(formbody);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    done(null, undefined);
  });

  // The one guard of the unsigned routes (pages, forms, admin and sandbox JSON) against text PostgreSQL cannot
  // store (a NUL, a lone surrogate): a parameter error here, never a database error later. Signed families check
  // the same (containsUnstorableText) after authentication, where they parse their own bodies.
  app.addHook('preValidation', async (req, reply) => {
    if (isSignedRoute(req.url)) return;
    if (containsUnstorableText(req.body) || containsUnstorableText(req.query) || containsUnstorableText(req.params)) {
      return reply.code(400).send({
        error: { code: 'INVALID_REQUEST', message: 'A parameter contains a NUL character or malformed Unicode.' },
      });
    }
  });

  await app.register(cookie);
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        formAction: null,
        frameAncestors: ["'self'"],
        upgradeInsecureRequests: null,
      },
    },
  });
  await app.register(rateLimit, { global: false });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Rampart API',
        version: '0.1.0',
        description:
          'Binance Pay, Binance Connect and KYC Sharing compatible APIs, operator admin API and sandbox helpers.',
      },
      servers: [{ url: opts.publicUrl }],
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } } },
      tags: API_TAGS,
    },
    transform: jsonSchemaTransform,
  });
  // swagger-ui's index page has no viewport meta (a phone renders it at desktop width, zoomed out) and no hook to
  // add one: the page is rewritten on its way out, in a scope holding only the docs routes.
  await app.register(async (docs) => {
    docs.addHook('onSend', async (_req, reply, payload) => {
      if (typeof payload !== 'string' || !String(reply.getHeader('content-type') ?? '').startsWith('text/html'))
        return payload;
      return payload.replace(/<meta charset="UTF-8">/i, (m) => `${m}\n${DOCS_HEAD}`);
    });
    await docs.register(swaggerUi, {
      routePrefix: '/docs',
      theme: { title: 'Rampart API' },
      uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: false },
    });
  });

  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.decorate('metrics', registry);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
    if (!metricsAllowed(req, opts.metricsToken)) {
      if (opts.metricsToken) reply.header('www-authenticate', 'Bearer');
      return reply.code(opts.metricsToken ? 401 : 403).send({
        error: {
          code: 'FORBIDDEN',
          message: opts.metricsToken
            ? '/metrics needs the METRICS_TOKEN bearer token.'
            : '/metrics answers loopback only (set METRICS_TOKEN to allow others).',
        },
      });
    }
    reply.type(registry.contentType);
    return registry.metrics();
  });
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: client.Registry;
  }
}

const isLoopbackIp = (ip: string | undefined) =>
  !!ip && (/^127\./.test(ip) || ip === '::1' || /^::ffff:127\./i.test(ip));

/**
 * /metrics is for the operator's scraper: loopback always (a request that came through a proxy, i.e. carries
 * forwarding headers, is not loopback whatever the socket says), anyone else only with METRICS_TOKEN.
 */
function metricsAllowed(req: FastifyRequest, token: string | undefined): boolean {
  const proxied = req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined;
  if (isLoopbackIp(req.ip) && isLoopbackIp(req.socket.remoteAddress) && !proxied) return true;
  if (!token) return false;
  const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(token).digest());
}
