import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { PayAuth } from '../pay/auth.ts';
import { payFailure } from '../pay/codes.ts';
import { payRoute } from '../pay/routes.ts';
import { validate } from '../pay/validation.ts';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import { raw } from '../platform/json.ts';
import { CreateAuthorization, RecordGet, Records } from './schemas.ts';
import type { Authorization, TspError, TspService } from './service.ts';

/** TSP domain errors → Pay wire codes (spec §7, §8). */
const WIRE: Record<TspError, string> = {
  NOT_TSP: '400203', MERCHANT_NOT_FOUND: '406210', FIELD_VALUE: '400102', FIELD_FORMAT: '400101', FIELD_MISSING: '400100',
  AUTH_NOT_FOUND: '400102', AUTH_NOT_PENDING: '400102', AUTH_EXPIRED: '400102', AUTH_NOT_AUTHORIZED: '400102',
  // The spec has no rate-limit code: the published 400203 ("check account status") with a message saying why.
  RATE_LIMITED: '400203',
};
const fail = (r: { code: TspError; message?: string }) => payFailure(WIRE[r.code], r.message);

/** The record shape of /service/provider/record and /record/get (spec §7.6). */
export const recordView = (a: Authorization) => ({
  authorizationId: a.authorizationId, merchantName: a.merchantName, authorizationToken: a.authorizationToken, merchantId: a.merchantId,
  status: a.status, scopes: a.scopes, ipWhitelist: a.ipWhitelist,
});

/** POST /binancepay/openapi/service/provider/{config/query, create, record, record/get}: called by the TSP as itself. */
export function registerTspRoutes(app: FastifyInstance, deps: { auth: PayAuth; tsp: TspService }) {
  const { tsp } = deps;
  const route = payRoute.bind(null, app, { auth: deps.auth, resolveActor: tsp.selfOnly });

  route('/service/provider/config/query', { scope: null, parameterless: true, summary: 'TSP: allowed scopes' }, async (_b, actor) => {
    const r = await tsp.config(actor.merchantId);
    return r.ok ? { data: r.value } : fail(r);
  });

  route('/service/provider/create', { scope: null, schema: CreateAuthorization, summary: 'TSP: create an authorization request' }, async (body, actor) => {
    const v = validate(CreateAuthorization, body);
    if (!v.ok) return v.failure;
    const r = await tsp.create(actor.merchantId, v.value, 'API');
    if (!r.ok) return fail(r);
    const a = r.value;
    return {
      data: {
        authorizationId: a.authorizationId, merchantName: a.merchantName, authorizationToken: a.authorizationToken, merchantId: v.value.merchantId,
        status: a.status, redirectUrl: a.redirectUrl, scopes: a.scopes, ipWhitelist: a.ipWhitelist,
      },
    };
  });

  route('/service/provider/record', { scope: null, schema: Records, summary: 'TSP: authorization records' }, async (body, actor) => {
    const v = validate(Records, body);
    if (!v.ok) return v.failure;
    const r = await tsp.records(actor.merchantId, v.value);
    return r.ok ? { data: { total: raw(String(r.value.total)), rows: r.value.rows.map(recordView) } } : fail(r);
  });

  route('/service/provider/record/get', { scope: null, schema: RecordGet, summary: 'TSP: one authorization record' }, async (body, actor) => {
    const v = validate(RecordGet, body);
    if (!v.ok) return v.failure;
    const r = await tsp.record(actor.merchantId, v.value);
    if (!r.ok) return fail(r);
    return { data: r.value ? recordView(r.value) : null };
  });
}

const Decision = z.object({ decision: z.enum(['AGREE', 'REJECT']) });

/** Sandbox helper: answer an authorization request as its merchant would on the review page. */
export function registerTspSandboxRoutes(app: FastifyInstance, deps: { adminToken: string; tsp: TspService }) {
  const guard = adminGuard(deps.adminToken);
  app.register(async (r) => {
    r.addHook('onRequest', guard);
    r.post('/sandbox/v1/tsp/authorizations/:authId/decision', {
      schema: {
        tags: ['Sandbox'], security: [{ adminToken: [] }], summary: 'Agree to or reject a TSP authorization request (as the merchant)',
        params: z.object({ authId: z.string().regex(/^\d{1,19}$/) }), body: Decision,
      },
    }, async (req, reply) => {
      const { authId } = req.params as { authId: string };
      const res = await deps.tsp.decide(authId, null, (req.body as z.infer<typeof Decision>).decision);
      if (!res.ok) {
        const status = res.code === 'AUTH_NOT_FOUND' ? 404 : 409;
        return adminError(reply, status, res.code, res.message ?? (status === 404 ? 'No such authorization.' : 'The authorization is not pending.'));
      }
      const a = res.value;
      return { authorizationId: a.authorizationId, status: a.status, merchantId: a.merchantId, tspMerchantId: a.tspMerchantId, scopes: a.scopes };
    });
  });
}
