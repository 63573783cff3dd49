import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { z } from 'zod';
import type { Logger } from './logger.ts';

/** What a signed endpoint answers: its data, or the family's failure. */
export type Answer<F> = { data: unknown } | F;

/**
 * A signed API family (Binance Pay, Binance Connect, KYC Sharing): everything its endpoints share. Each signed
 * endpoint of every family is then declared the same way, with `signedRoutes` (one block per endpoint in the
 * family's routes.ts), and runs the same lifecycle:
 *
 *   raw bytes kept (http.ts) → family.authenticate (method, content type, headers, key, signature over the raw
 *   bytes, body parsed) → the endpoint's zod schema validates family.body(caller) → handler → family.send
 *
 * Errors fastify raises before the handler (body too large, unparsable Content-Type) and anything thrown become the
 * family's failure through family.error, inside the family's own encapsulated context.
 */
export interface SignedFamily<Opts, Caller, Failure> {
  /** OpenAPI tag. */
  tag: string;
  /** URL prefixes of the endpoints; the first is documented, the others are aliases hidden from OpenAPI. */
  prefixes: string[];
  /** Methods routed to the endpoint (authenticate answers those it refuses with the family's code). */
  methods: HTTPMethods[];
  /** Methods shown in OpenAPI. */
  documentedMethods?: HTTPMethods[];
  /** Authenticates the request over its raw bytes; the caller carries the parsed body. */
  authenticate(
    req: FastifyRequest,
    opts: Opts,
  ): Promise<{ ok: true; caller: Caller } | { ok: false; failure: Failure }>;
  /** The parsed JSON body the endpoint's schema validates. */
  body(caller: Caller): unknown;
  /** The failure for a body the schema refuses (its first issue). */
  invalid(error: z.ZodError): Failure;
  /**
   * Writes the family's envelope (with the reply's status unless the failure has its own); `caller` is absent when
   * authentication failed.
   */
  send(reply: FastifyReply, answer: Answer<Failure>, caller?: Caller): Promise<unknown>;
  /** The failure for an error raised by fastify (`client`: a 4xx, e.g. body too large) or thrown by a handler. */
  error(error: FastifyError, client: boolean): Failure;
  /** True for the failure that means "unknown error" (logged at error level; every other one is the client's). */
  isInternal(failure: Failure): boolean;
  /** The answer (HTTP 404) to an unknown path under these prefixes; without it, the platform's 404. */
  notFound?: { prefixes: string[]; failure: Failure };
}

export interface SignedEndpoint<Opts, S extends z.ZodType> {
  /** Path after the family's prefix. */
  path: string;
  summary: string;
  /** At once validator (of family.body(caller)), OpenAPI body and the handler's input type. */
  schema: S;
  /** Family options of this endpoint (Pay: TSP scope, parameterless, deferred nonce). */
  options: Opts;
  /** Overrides the family's routed and documented methods for this endpoint. */
  methods?: HTTPMethods[];
  documentedMethods?: HTTPMethods[];
}

/** The schema of an endpoint without parameters (extra fields are ignored). */
export const NoParameters = z.object({});

export type SignedHandler<Caller, Failure, S extends z.ZodType> = (
  input: z.infer<S>,
  caller: Caller,
) => Promise<Answer<Failure>>;

/**
 * Registers a family's endpoints in their own encapsulated context (its error handler and catch-all 404), then
 * calls `declare` with the function that declares one endpoint.
 */
export function signedRoutes<Opts, Caller, Failure>(
  app: FastifyInstance,
  family: SignedFamily<Opts, Caller, Failure>,
  logger: Logger,
  declare: (
    route: <S extends z.ZodType>(endpoint: SignedEndpoint<Opts, S>, handler: SignedHandler<Caller, Failure, S>) => void,
  ) => void,
): void {
  app.register(async (scope) => {
    scope.setErrorHandler(async (error: FastifyError, req, reply) => {
      const client = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500;
      const failure = family.error(error, client);
      if (family.isInternal(failure)) logger.error({ err: error, url: req.url }, `${family.tag} request failed`);
      else logger.info({ code: error.code, url: req.url }, 'client request refused');
      return family.send(reply.code(200), failure);
    });

    declare((endpoint, handler) => {
      const run = async (req: FastifyRequest, reply: FastifyReply) => {
        const authed = await family.authenticate(req, endpoint.options);
        if (!authed.ok) return family.send(reply, authed.failure);
        const caller = authed.caller;
        const input = endpoint.schema.safeParse(family.body(caller));
        if (!input.success) return family.send(reply, family.invalid(input.error), caller);
        return family.send(reply, await handler(input.data, caller), caller);
      };
      family.prefixes.forEach((prefix, i) => {
        const url = `${prefix}${endpoint.path}`;
        const methods = endpoint.methods ?? family.methods;
        const documented = endpoint.documentedMethods ?? family.documentedMethods ?? methods;
        const hidden = methods.filter((m) => !documented.includes(m));
        // A body schema documents the methods that have a body; GET (which fastify allows no body schema) is listed
        // apart.
        const withBody = documented.filter((m) => m !== 'GET' && m !== 'HEAD');
        const withoutBody = documented.filter((m) => m === 'GET' || m === 'HEAD');
        const doc = { tags: [family.tag], summary: endpoint.summary, hide: i > 0 };
        if (withBody.length)
          scope.route({ method: withBody, url, schema: { ...doc, body: endpoint.schema }, handler: run });
        if (withoutBody.length) scope.route({ method: withoutBody, url, schema: doc, handler: run });
        if (hidden.length) scope.route({ method: hidden, url, schema: { hide: true }, handler: run });
      });
    });

    for (const prefix of family.notFound?.prefixes ?? []) {
      scope.all(`${prefix}/*`, { schema: { hide: true } }, async (_req, reply) =>
        family.send(reply.code(404), family.notFound!.failure),
      );
    }
  });
}

/** One request header (the first, if sent twice); every family's authenticate reads its headers through this. */
export function requestHeader(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
