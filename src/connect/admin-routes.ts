import { createPublicKey } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import type { Queryable } from '../platform/db/client.ts';
import { listIdentityConflicts } from './buyflow/identity.ts';
import type { BuyflowService } from './buyflow/service.ts';
import type { Partner, PartnerService } from './partners.ts';

/** Operator admin API for Connect partners (binance-connect.md §9): onboarding, listing, settings, enable/disable. */
const PartnerCreate = z.object({
  name: z.string().max(128),
  email: z.string().max(320),
  /** The partner's RSA public key (PEM), as shared/spec/platform.md names it; `publicKey` is kept as an alias. */
  publicKeyPem: z.string().max(20_000).optional(),
  publicKey: z.string().max(20_000).optional(),
  ipWhitelist: z.array(z.string().max(64)).max(50),
  redirectDomains: z.array(z.string().max(260)).max(20).optional(),
  webhookUrl: z.string().max(512).nullish(),
  code: z.string().max(40).optional(),
  feePct: z.string().max(16).optional(),
  minFeeUsd: z.string().max(16).optional(),
  spread: z.string().max(16).optional(),
  successCode: z.enum(['000000', '000000000']).optional(),
});
const PartnerPatch = z.object({
  status: z.enum(['ACTIVE', 'DISABLED']).optional(),
  ipWhitelist: z.array(z.string().max(64)).max(50).optional(),
  redirectDomains: z.array(z.string().max(260)).max(20).optional(),
  webhookUrl: z.string().max(512).nullable().optional(),
  feePct: z.string().max(16).optional(),
  minFeeUsd: z.string().max(16).optional(),
  spread: z.string().max(16).optional(),
  /** Generation 2 (binance-connect-v2.md §7, §4.7): the customization keys enabled, the deep-link app schemes. */
  customizationFlags: z.array(z.string().max(64)).max(20).optional(),
  deepLinkSchemes: z.array(z.string().max(64)).max(20).optional(),
});
const CodeParam = z.object({ code: z.string().max(64) });

const adminPartnerView = (p: Partner) => ({
  merchantCode: p.code,
  name: p.name,
  email: p.email,
  status: p.status,
  ipWhitelist: p.ipWhitelist,
  redirectDomains: p.redirectDomains,
  webhookUrl: p.webhookUrl,
  successCode: p.successCode,
  feePct: p.feePct,
  minFeeUsd: p.minFeeUsd,
  spread: p.spread,
  portalPasswordSet: p.hasPassword,
  // Generation 2 (binance-connect-v2.md §13): the client id, whether a sign access token is set (never the token).
  clientId: p.clientId,
  hasSignToken: p.hasSignToken,
  customizationFlags: p.customizationFlags,
  deepLinkSchemes: p.deepLinkSchemes,
});

export function registerConnectAdminRoutes(
  app: FastifyInstance,
  deps: { adminToken: string; partners: PartnerService; db: Queryable; buyflow: BuyflowService },
) {
  const { partners } = deps;
  const guard = adminGuard(deps.adminToken);
  const tags = ['Admin: Connect partners'];
  const security = [{ adminToken: [] }];
  app.register(async (r) => {
    r.addHook('onRequest', guard);
    r.post(
      '/admin/v1/partners',
      {
        schema: {
          tags,
          security,
          summary: 'Onboard a Connect business partner in this environment',
          body: PartnerCreate,
        },
      },
      async (req, reply) => {
        const { publicKeyPem, publicKey: alias, ...body } = req.body as z.infer<typeof PartnerCreate>;
        if (publicKeyPem === undefined && alias === undefined)
          return adminError(reply, 400, 'INVALID_PUBLIC_KEY', 'publicKeyPem is required');
        if (publicKeyPem !== undefined && alias !== undefined && publicKeyPem !== alias) {
          return adminError(
            reply,
            400,
            'INVALID_PUBLIC_KEY',
            'publicKeyPem and its alias publicKey differ; send one of them',
          );
        }
        const res = await partners.create({ ...body, publicKey: (publicKeyPem ?? alias) as string });
        if (!res.ok)
          return adminError(
            reply,
            res.code === 'EMAIL_TAKEN' || res.code === 'CODE_TAKEN' ? 409 : 400,
            res.code,
            res.message,
          );
        const { partner, key, platformPublicKey, environment, signAccessToken } = res.value;
        return reply.code(201).send({
          // platformPublicKeyPem is the contract's name; platformPublicKey stays as an alias for existing clients.
          ...adminPartnerView(partner),
          environment,
          platformPublicKeyPem: platformPublicKey,
          platformPublicKey,
          partnerKey: { id: key.id, fingerprint: key.fingerprint, bits: key.bits },
          // Generation 2 credentials (binance-connect-v2.md §13); the sign access token is shown this once.
          clientId: partner.clientId,
          signAccessToken,
          // §13: the key the partner verifies webhooks with (the platform's Connect key, as PEM and as the bare
          // base64 SPKI DER Binance's examples use) and the webhook partner code (= the client id).
          webhookPublicKeyPem: platformPublicKey,
          webhookPublicKeyDerBase64: createPublicKey(platformPublicKey)
            .export({ type: 'spki', format: 'der' })
            .toString('base64'),
          webhookPartnerCode: partner.clientId,
          portalUrl: '/en/partner/login',
          invitation: `a password link was emailed to ${partner.email}`,
        });
      },
    );
    r.get('/admin/v1/partners', { schema: { tags, security, summary: 'List Connect partners' } }, async () =>
      (await partners.list()).map(adminPartnerView),
    );
    r.get(
      '/admin/v1/partners/:code',
      { schema: { tags, security, summary: 'A partner with its keys', params: CodeParam } },
      async (req, reply) => {
        const p = await partners.get((req.params as { code: string }).code);
        if (!p) return adminError(reply, 404, 'PARTNER_NOT_FOUND');
        return {
          ...adminPartnerView(p),
          keys: (await partners.keys(p.code)).map((k) => ({
            id: k.id,
            fingerprint: k.fingerprint,
            bits: k.bits,
            createdAt: k.createdAt,
            expiresAt: k.expiresAt,
          })),
        };
      },
    );
    r.patch(
      '/admin/v1/partners/:code',
      {
        schema: {
          tags,
          security,
          summary: 'Enable/disable a partner or change its IPs, redirect domains, webhook URL, fees',
          params: CodeParam,
          body: PartnerPatch,
        },
      },
      async (req, reply) => {
        const res = await partners.updateSettings(
          (req.params as { code: string }).code,
          req.body as z.infer<typeof PartnerPatch>,
        );
        if (!res.ok) return adminError(reply, res.code === 'PARTNER_NOT_FOUND' ? 404 : 400, res.code, res.message);
        return adminPartnerView(res.value);
      },
    );
    for (const [action, to] of [
      ['suspend', 'DISABLED'],
      ['reactivate', 'ACTIVE'],
    ] as const)
      r.post(
        `/admin/v1/partners/:code/${action}`,
        {
          schema: {
            tags,
            security,
            summary:
              to === 'DISABLED'
                ? 'Suspend a partner (its signed requests and portal log-in are refused); refused when already suspended'
                : 'Reactivate a suspended partner; refused when already active',
            params: CodeParam,
          },
        },
        async (req, reply) => {
          const res = await partners.setStatus((req.params as { code: string }).code, to);
          if (!res.ok) return adminError(reply, res.code === 'PARTNER_NOT_FOUND' ? 404 : 409, res.code, res.message);
          return adminPartnerView(res.value);
        },
      );
    r.get(
      '/admin/v1/connect/identity-conflicts',
      {
        schema: {
          tags: ['Admin: Connect buy flow'],
          security,
          summary:
            'Buy-flow accounts refused a broker-shared KYC identity already bound to another account (latest first)',
          querystring: z.object({
            kycUserId: z
              .string()
              .regex(/^\d{1,19}$/)
              .optional(),
          }),
        },
      },
      async (req) => listIdentityConflicts(deps.db, { kycUserId: (req.query as { kycUserId?: string }).kycUserId }),
    );
    r.get(
      '/admin/v1/connect/orders/:orderId',
      {
        schema: {
          tags: ['Admin: Connect buy flow'],
          security,
          params: z.object({ orderId: z.string().max(64) }),
          summary:
            'A Connect order whole: published status, buy-flow step and history, locked quote, card charges with the ' +
            'acquirer state, ledger transfers, withdrawal and on-chain transaction',
        },
      },
      async (req, reply) => {
        const view = await deps.buyflow.operatorView((req.params as { orderId: string }).orderId);
        return view ?? adminError(reply, 404, 'ORDER_NOT_FOUND');
      },
    );
    r.post(
      '/admin/v1/partners/:code/sign-token',
      {
        schema: {
          tags,
          security,
          summary:
            'Issue a new gen-2 sign access token (X-Tesla-SignAccessToken), answered this once; the previous one ' +
            'stops working at once',
          params: CodeParam,
        },
      },
      async (req, reply) => {
        const code = (req.params as { code: string }).code;
        const res = await partners.issueSignToken(code);
        if (!res.ok) return adminError(reply, 404, res.code);
        return { merchantCode: code, signAccessToken: res.value };
      },
    );
    r.post(
      '/admin/v1/partners/:code/password-link',
      { schema: { tags, security, summary: 'Email a new portal password link', params: CodeParam } },
      async (req, reply) => {
        const res = await partners.sendPasswordLink((req.params as { code: string }).code);
        if (!res.ok) return adminError(reply, 404, res.code);
        return { sent: true };
      },
    );
  });
}
