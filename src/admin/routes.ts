import type { FastifyInstance } from 'fastify';
import { int8Id } from '../platform/ids.ts';
import { z } from 'zod';
import type { AccountsService } from '../accounts/service.ts';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import type { Db } from '../platform/db/client.ts';
import type { AuditReport, Ledger } from '../platform/ledger/service.ts';
import type { SigningKeys } from '../platform/signing-keys.ts';
import type { MerchantUsers } from '../dashboard/users.ts';
import { effectiveFeatures, FEATURE_FLAGS, KEY_PERMISSIONS, type FeatureFlag, type Mode } from '../pay/features.ts';

/** Operator admin API (platform.md): merchants and keys, ledger audit, webhook key rotation. */
const MerchantCreate = z.object({
  name: z.string().min(1).max(128),
  webhookUrl: z.string().url().max(256).nullish(),
  ipWhitelist: z.array(z.string()).max(50).optional(),
  /** The merchant's dashboard user: gets an emailed link to set its password. */
  email: z.string().email().max(254).optional(),
});
const MerchantPatch = z.object({
  webhookUrl: z.string().url().max(256).nullable().optional(),
  ipWhitelist: z.array(z.string()).max(50).optional(),
  tsp: z
    .object({
      allowScopes: z.array(
        z.enum(['CONVERT', 'REFUND', 'CHECKOUT', 'PAYOUT', 'REPORT', 'INTERNAL_TRANSFER', 'BALANCE']),
      ),
      allowFeeShare: z.boolean().default(false),
    })
    .nullable()
    .optional(),
  /** Feature-flag overrides (binance-pay-extended.md §9.1); null resets a flag to the mode's default. */
  features: z
    .partialRecord(z.enum(FEATURE_FLAGS as [FeatureFlag, ...FeatureFlag[]]), z.boolean().nullable())
    .optional(),
  /** Absolute payout fee per asset (§10.2); null removes it. */
  payoutFee: z
    .record(
      z.string().regex(/^[A-Z0-9]{2,10}$/),
      z
        .string()
        .regex(/^\d{1,20}(\.\d{1,8})?$/)
        .nullable(),
    )
    .optional(),
});
const KeyCreate = z.object({
  ipWhitelist: z.array(z.string()).max(50).optional(),
  /** Key permissions (§9.1); absent: the mode's default (sandbox: all, production: none). */
  permissions: z.array(z.enum(KEY_PERMISSIONS)).optional(),
});
const IdParam = z.object({ id: int8Id });

export function registerAdminRoutes(
  app: FastifyInstance,
  deps: {
    adminToken: string;
    accounts: AccountsService;
    ledger: Ledger;
    signingKeys: SigningKeys;
    db: Db;
    mode: Mode;
    merchantUsers?: MerchantUsers;
    /** The ledger audit with the outside systems reconciled (app.ts). */
    audit: () => Promise<AuditReport & { reconciled: unknown }>;
  },
) {
  const { accounts } = deps;
  const guard = adminGuard(deps.adminToken);
  const tags = ['Admin'];
  const security = [{ adminToken: [] }];

  app.register(async (r) => {
    r.addHook('onRequest', guard);

    r.post(
      '/admin/v1/merchants',
      { schema: { tags, security, summary: 'Create a merchant with its first API key', body: MerchantCreate } },
      async (req, reply) => {
        const body = req.body as z.infer<typeof MerchantCreate>;
        if (body.email && (!deps.merchantUsers || (await deps.merchantUsers.emailTaken(body.email))))
          return adminError(reply, 409, 'EMAIL_TAKEN', 'A dashboard user with this email exists.');
        const res = await accounts.createMerchant(body);
        if (!res.ok) return adminError(reply, 400, res.code, res.message);
        if (body.email && deps.merchantUsers) {
          const u = await deps.merchantUsers.invite(res.value.merchantId, body.email);
          if (!u.ok) return adminError(reply, 409, u.code, u.message);
          return reply.code(201).send({ ...res.value, dashboardUser: { email: u.value.email } });
        }
        return reply.code(201).send(res.value);
      },
    );

    r.get(
      '/admin/v1/merchants',
      {
        schema: {
          tags,
          security,
          summary: 'List merchants (q: a merchant id, or part of a name)',
          querystring: z.object({ q: z.string().max(128).optional() }),
        },
      },
      async (req) => {
        const list = await accounts.listMerchants((req.query as { q?: string }).q);
        return list.map((m) => ({
          merchantId: String(m.merchantId),
          merchantName: m.name,
          status: m.status,
          webhookUrl: m.webhookUrl,
          tsp: m.tsp,
        }));
      },
    );

    for (const [action, to] of [
      ['suspend', 'SUSPENDED'],
      ['reactivate', 'ACTIVE'],
    ] as const)
      r.post(
        `/admin/v1/merchants/:id/${action}`,
        {
          schema: {
            tags,
            security,
            summary:
              to === 'SUSPENDED'
                ? 'Suspend a merchant: its signed API requests are refused (400606), its dashboard log-in refused'
                : 'Reactivate a suspended merchant',
            params: IdParam,
          },
        },
        async (req, reply) => {
          const res = await accounts.setMerchantStatus((req.params as { id: string }).id, to);
          if (!res.ok) return adminError(reply, res.code === 'MERCHANT_NOT_FOUND' ? 404 : 409, res.code, res.message);
          return { merchantId: String(res.value.merchantId), merchantName: res.value.name, status: res.value.status };
        },
      );

    r.get(
      '/admin/v1/merchants/:id',
      { schema: { tags, security, summary: 'A merchant with its keys and balances', params: IdParam } },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const m = await accounts.getMerchant(id);
        if (!m) return adminError(reply, 404, 'MERCHANT_NOT_FOUND');
        return {
          merchantId: String(m.merchantId),
          merchantName: m.name,
          status: m.status,
          webhookUrl: m.webhookUrl,
          tsp: m.tsp,
          features: effectiveFeatures(m, deps.mode),
          /** The operator's overrides; a flag absent here takes the mode's default. */
          featureOverrides: m.features,
          payoutFee: m.payoutFee,
          createdAt: m.createdAt,
          keys: await accounts.listKeys(id),
          balances: await deps.ledger.balances(deps.db, 'merchant', id),
        };
      },
    );

    r.patch(
      '/admin/v1/merchants/:id',
      {
        schema: {
          tags,
          security,
          summary: 'Update webhook URL, IP whitelist, TSP flag',
          params: IdParam,
          body: MerchantPatch,
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const res = await accounts.updateMerchant(id, req.body as z.infer<typeof MerchantPatch>);
        if (!res.ok) return adminError(reply, res.code === 'MERCHANT_NOT_FOUND' ? 404 : 400, res.code, res.message);
        const m = res.value;
        return {
          merchantId: String(m.merchantId),
          merchantName: m.name,
          status: m.status,
          webhookUrl: m.webhookUrl,
          tsp: m.tsp,
          features: effectiveFeatures(m, deps.mode),
          payoutFee: m.payoutFee,
        };
      },
    );

    r.post(
      '/admin/v1/merchants/:id/keys',
      {
        schema: {
          tags,
          security,
          summary: 'Create (rotate in) an API key',
          params: IdParam,
          body: KeyCreate.optional(),
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const body = req.body as z.infer<typeof KeyCreate> | undefined;
        const res = await accounts.createKey(id, body?.ipWhitelist, body?.permissions);
        if (!res.ok) return adminError(reply, res.code === 'MERCHANT_NOT_FOUND' ? 404 : 400, res.code, res.message);
        return reply.code(201).send(res.value);
      },
    );

    r.delete(
      '/admin/v1/merchants/:id/keys/:apiKey',
      {
        schema: {
          tags,
          security,
          summary: 'Revoke an API key',
          params: z.object({ id: int8Id, apiKey: z.string().max(128) }),
        },
      },
      async (req, reply) => {
        const { id, apiKey } = req.params as { id: string; apiKey: string };
        const res = await accounts.revokeKey(id, apiKey);
        if (!res.ok) return adminError(reply, 404, res.code);
        return { revoked: true };
      },
    );

    r.get(
      '/admin/v1/ledger/audit',
      { schema: { tags, security, summary: 'Ledger audit, with card charges and hot wallets reconciled' } },
      async () => deps.audit(),
    );

    r.post(
      '/admin/v1/webhooks/keys/rotate',
      { schema: { tags, security, summary: 'Rotate the Binance Pay webhook signing key' } },
      async () => {
        const key = await deps.signingKeys.rotate('pay-webhook');
        return { certSerial: key.serial, certPublic: key.publicKeyPem };
      },
    );
  });
}
