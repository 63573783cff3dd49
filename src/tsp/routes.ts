import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { payDomainFailure } from '../pay/codes.ts';
import type { PayRoute } from '../pay/family.ts';
import { NoParameters } from '../platform/signed-route.ts';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import { raw } from '../platform/json.ts';
import { CreateAuthorization, RecordGet, Records } from './schemas.ts';
import type { Authorization, TspService } from './service.ts';

/** The record shape of /service/provider/record and /record/get (spec §7.6). */
const recordView = (a: Authorization) => ({
  authorizationId: a.authorizationId,
  merchantName: a.merchantName,
  authorizationToken: a.authorizationToken,
  merchantId: a.merchantId,
  status: a.status,
  scopes: a.scopes,
  ipWhitelist: a.ipWhitelist,
});

/**
 * POST /binancepay/openapi/service/provider/{config/query, create, record, record/get}: called by the TSP as itself.
 */
export function registerTspRoutes(route: PayRoute, deps: { tsp: TspService }) {
  const { tsp } = deps;
  const self = { scope: null, self: true } as const;

  route(
    {
      path: '/service/provider/config/query',
      summary: 'TSP: allowed scopes',
      schema: NoParameters,
      options: { ...self, parameterless: true },
    },
    async (_b, { actor }) => {
      const r = await tsp.config(actor.merchantId);
      return r.ok ? { data: r.value } : payDomainFailure(r);
    },
  );

  route(
    {
      path: '/service/provider/create',
      summary: 'TSP: create an authorization request',
      schema: CreateAuthorization,
      options: self,
    },
    async (input, { actor }) => {
      const r = await tsp.create(actor.merchantId, input, 'API');
      if (!r.ok) return payDomainFailure(r);
      const a = r.value;
      return {
        data: {
          authorizationId: a.authorizationId,
          merchantName: a.merchantName,
          authorizationToken: a.authorizationToken,
          merchantId: input.merchantId,
          status: a.status,
          redirectUrl: a.redirectUrl,
          scopes: a.scopes,
          ipWhitelist: a.ipWhitelist,
        },
      };
    },
  );

  route(
    { path: '/service/provider/record', summary: 'TSP: authorization records', schema: Records, options: self },
    async (input, { actor }) => {
      const r = await tsp.records(actor.merchantId, input);
      return r.ok
        ? { data: { total: raw(String(r.value.total)), rows: r.value.rows.map(recordView) } }
        : payDomainFailure(r);
    },
  );

  route(
    {
      path: '/service/provider/record/get',
      summary: 'TSP: one authorization record',
      schema: RecordGet,
      options: self,
    },
    async (input, { actor }) => {
      const r = await tsp.record(actor.merchantId, input);
      if (!r.ok) return payDomainFailure(r);
      return { data: r.value ? recordView(r.value) : null };
    },
  );
}

const Decision = z.object({ decision: z.enum(['AGREE', 'REJECT']) });

/** Sandbox helper: answer an authorization request as its merchant would on the review page. */
export function registerTspSandboxRoutes(app: FastifyInstance, deps: { adminToken: string; tsp: TspService }) {
  const guard = adminGuard(deps.adminToken);
  app.register(async (r) => {
    r.addHook('onRequest', guard);
    r.post(
      '/sandbox/v1/tsp/authorizations/:authId/decision',
      {
        schema: {
          tags: ['Sandbox'],
          security: [{ adminToken: [] }],
          summary: 'Agree to or reject a TSP authorization request (as the merchant)',
          params: z.object({ authId: z.string().regex(/^\d{1,19}$/) }),
          body: Decision,
        },
      },
      async (req, reply) => {
        const { authId } = req.params as { authId: string };
        const res = await deps.tsp.decide(authId, null, (req.body as z.infer<typeof Decision>).decision);
        if (!res.ok) {
          const status = res.code === 'AUTH_NOT_FOUND' ? 404 : 409;
          return adminError(
            reply,
            status,
            res.code,
            res.message ?? (status === 404 ? 'No such authorization.' : 'The authorization is not pending.'),
          );
        }
        const a = res.value;
        return {
          authorizationId: a.authorizationId,
          status: a.status,
          merchantId: a.merchantId,
          tspMerchantId: a.tspMerchantId,
          scopes: a.scopes,
        };
      },
    );
  });
}
