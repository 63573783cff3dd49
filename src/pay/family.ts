import type { FastifyError, FastifyInstance } from 'fastify';
import { z } from 'zod';
import { stringify } from '../platform/json.ts';
import type { Logger } from '../platform/logger.ts';
import {
  signedRoutes,
  type Answer,
  type SignedEndpoint,
  type SignedFamily,
  type SignedHandler,
} from '../platform/signed-route.ts';
import type { Result } from '../platform/errors.ts';
import type { ActorError, Scope } from '../tsp/service.ts';
import type { PayAuth, PayCaller } from './auth.ts';
import { payDomainFailure, payFailure, type PayFailure } from './codes.ts';
import type { Actor } from './orders/service.ts';
import { firstFailure } from './validation.ts';
import type { Merchant } from '../accounts/service.ts';
import { featureEnabled, keyHasPermission, type FeatureFlag, type KeyPermission, type Mode } from './features.ts';

/** The Pay envelope (binance-pay.md §2). */
export function envelope(result: Answer<PayFailure>): string {
  if ('data' in result)
    return `{"status":"SUCCESS","code":"000000","data":${stringify(result.data)},"errorMessage":null}`;
  return stringify({ status: 'FAIL', code: result.code, errorMessage: result.message });
}

interface PayEndpointOptions {
  /** TSP scope the endpoint needs (spec §7.8); null = any valid authorization. */
  scope: Scope;
  /** Called by a TSP as itself (/service/provider/*): an authorization token is refused. */
  self?: boolean;
  /** An empty body (or `[]`) is accepted as `{}`. */
  parameterless?: boolean;
  /** The handler's write records the nonce (create order); otherwise it is recorded on the way out. */
  deferNonce?: boolean;
  /** The merchant feature the endpoint needs (binance-pay-extended.md §9.1); without it: 400203. */
  feature?: FeatureFlag;
  /** The key permission the endpoint needs (§9.1: payout); without it: 400004. A TSP's granted scope stands for it. */
  permission?: KeyPermission;
}

/** A Pay caller after actor resolution: the merchant it acts for (itself, or one that authorized it as TSP). */
interface PayContext {
  caller: PayCaller;
  actor: Actor;
}

type ActorResolver = (caller: PayCaller, scope: Scope) => Promise<Result<Actor, ActorError>>;

interface PayFamilyDeps {
  auth: PayAuth;
  resolveActor: ActorResolver;
  selfOnly: (caller: PayCaller) => Promise<Result<Actor, ActorError>>;
  /** The merchant whose features gate an endpoint (§9.1). */
  merchant: (merchantId: string) => Promise<Pick<Merchant, 'features'> | null>;
  mode: Mode;
}

/**
 * Binance Pay as a signed family: HMAC-SHA512 over the raw bytes (auth.ts), then actor resolution; every answer is
 * HTTP 200 with the Pay envelope (spec §2), an unknown path under /binancepay/ the envelope with 400000 and HTTP 404.
 */
function payFamily(deps: PayFamilyDeps): SignedFamily<PayEndpointOptions, PayContext, PayFailure> {
  return {
    tag: 'Binance Pay',
    prefixes: ['/binancepay/openapi'],
    methods: ['POST', 'GET', 'PUT', 'DELETE', 'PATCH'],
    documentedMethods: ['POST'],
    async authenticate(req, opts) {
      const authed = await deps.auth(req, { parameterless: opts.parameterless, deferNonce: opts.deferNonce });
      if (!authed.ok) return authed;
      const resolved = opts.self
        ? await deps.selfOnly(authed.caller)
        : await deps.resolveActor(authed.caller, opts.scope);
      if (!resolved.ok) return { ok: false, failure: await afterNonce(authed.caller, payDomainFailure(resolved)) };
      return { ok: true, caller: { caller: authed.caller, actor: resolved.value } };
    },
    body: (ctx) => ctx.caller.body,
    invalid: firstFailure,
    async send(reply, answer, ctx) {
      const r = ctx ? await afterNonce(ctx.caller, answer) : answer;
      return reply.type('application/json').send(envelope(r));
    },
    error: (error: FastifyError, client) =>
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? payFailure('400104')
        : client
          ? payFailure('400007')
          : payFailure('400000'),
    isInternal: (f) => f.code === '400000',
    notFound: { prefixes: ['/binancepay'], failure: payFailure('400000', 'Not found.') },
  };

  /**
   * A deferred nonce not recorded by the handler's write is recorded now; a replay answers 400001 as if checked first.
   */
  async function afterNonce<A extends Answer<PayFailure>>(caller: PayCaller, answer: A): Promise<A | PayFailure> {
    const nonce = caller.nonce;
    if (nonce && !nonce.consumed && !(await deps.auth.recordNonce(nonce)))
      return payFailure('400001', 'Nonce has been used.');
    return answer;
  }
}

export type PayRoute = <S extends z.ZodType>(
  endpoint: SignedEndpoint<PayEndpointOptions, S>,
  handler: SignedHandler<PayContext, PayFailure, S>,
) => void;

/** Declares Pay endpoints (one block each, in the domain's routes.ts) in the Pay family's context. */
export function payRoutes(
  app: FastifyInstance,
  deps: PayFamilyDeps,
  logger: Logger,
  declare: (route: PayRoute) => void,
): void {
  signedRoutes(app, payFamily(deps), logger, (route) =>
    declare((endpoint, handler) => route(endpoint, gated(endpoint.options, handler))),
  );

  /**
   * Feature and key-permission gates, after the fields are valid (the order of binance-pay-extended.md §10.1: fields,
   * then feature and permission, then the endpoint's own rules).
   */
  function gated<H extends SignedHandler<PayContext, PayFailure, z.ZodType>>(opts: PayEndpointOptions, handler: H): H {
    const { feature, permission } = opts;
    if (!feature && !permission) return handler;
    return (async (input, ctx) => {
      if (feature) {
        const m = await deps.merchant(ctx.actor.merchantId);
        if (!m || !featureEnabled(m, feature, deps.mode)) return payDomainFailure({ code: 'FEATURE_DISABLED' });
      }
      const actingForItself = ctx.actor.merchantId === ctx.actor.creatorMerchantId;
      if (
        permission &&
        actingForItself &&
        !keyHasPermission({ permissions: ctx.caller.keyPermissions }, permission, deps.mode)
      )
        return payDomainFailure({
          code: 'KEY_PERMISSION_MISSING',
          message: `API key is not enabled for ${permission.toLowerCase()}.`,
        });
      return handler(input, ctx);
    }) as H;
  }
}
