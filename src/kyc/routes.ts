import type { FastifyInstance } from 'fastify';
import { int8Id } from '../platform/ids.ts';
import { z } from 'zod';
import type { AccountsService } from '../accounts/service.ts';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import type { Logger } from '../platform/logger.ts';
import { signedRoutes, type SignedFamily } from '../platform/signed-route.ts';
import { wireCodeOf } from '../platform/validation.ts';
import { createKycAuth, type KycAuth, type KycCaller } from './auth.ts';
import { kycEnvelope, type KycErrorCode, type KycFailure } from './codes.ts';
import { CheckKycStatus, QueryShareDataStatus, ShareKycData } from './schemas.ts';
import type { KycService } from './service.ts';
import { statusVo } from './service.ts';

/**
 * KYC Sharing HTTP edge (kyc-sharing.md): the signed broker endpoints, the operator's broker and review-queue API and
 * the sandbox decision helper (platform.md).
 */
const KYC_BASE = '/bapi/ekyc/v2/public/ekyc/customer';

const BrokerCreate = z.object({
  name: z.string().min(1).max(128),
  partialSharing: z.boolean().default(false),
  ipWhitelist: z.array(z.string().max(64)).max(50).default([]),
  mainAccountIds: z.array(z.string().max(64)).max(100).optional(),
  questionnaireVersions: z.array(z.string().max(32)).max(20).optional(),
  maxSubAccountsPerUser: z.number().int().min(1).max(1000).optional(),
  connectPartnerCode: z.string().min(1).max(64).nullish(),
});
const BrokerPatch = z.object({
  partialSharing: z.boolean().optional(),
  ipWhitelist: z.array(z.string().max(64)).max(50).optional(),
  mainAccountIds: z.array(z.string().max(64)).max(100).optional(),
  questionnaireVersions: z.array(z.string().max(32)).max(20).optional(),
  maxSubAccountsPerUser: z.number().int().min(1).max(1000).optional(),
  connectPartnerCode: z.string().min(1).max(64).nullable().optional(),
  enabled: z.boolean().optional(),
});
const BrokerKey = z.object({ key: z.string().max(128) });
const Decision = z.object({ decision: z.enum(['PASS', 'REJECT']), reason: z.string().max(256).optional() });
const RecordId = z.object({ id: int8Id });

/**
 * KYC Sharing as a signed family: HMAC-SHA256 over the raw bytes (auth.ts); answers carry their own HTTP status
 * (403 for an IP outside the whitelist, codes.ts), an error the family's SYS_ERROR.
 */
function kycFamily(auth: KycAuth): SignedFamily<null, KycCaller, KycFailure> {
  return {
    tag: 'KYC Sharing',
    prefixes: [KYC_BASE],
    methods: ['POST', 'GET', 'PUT', 'DELETE', 'PATCH'],
    documentedMethods: ['POST'],
    authenticate: (req) => auth(req),
    body: (c) => c.body,
    invalid: (error) => {
      const issue = error.issues[0]!;
      return { code: (wireCodeOf(issue) as KycErrorCode | undefined) ?? 'INVALID_PARAM', detail: issue.message };
    },
    send: async (reply, answer) => {
      const e = kycEnvelope(answer);
      return reply.code(e.status).type('application/json').send(e.body);
    },
    error: (error, client) =>
      client
        ? { code: 'BAD_REQUEST', detail: String(error.message).slice(0, 256) }
        : { code: 'INTERNAL', detail: 'internal error; retry' },
    isInternal: (f) => f.code === 'INTERNAL',
  };
}

export function registerKycRoutes(
  app: FastifyInstance,
  deps: {
    kyc: KycService;
    adminToken: string;
    mode: 'sandbox' | 'production';
    logger: Logger;
    /** Payers, for the sandbox decision on a payout recipient (a payer id instead of a KYC record id). */
    accounts?: Pick<AccountsService, 'setPayerKycStatus'>;
  },
) {
  const { kyc } = deps;

  signedRoutes(app, kycFamily(createKycAuth(kyc)), deps.logger, (route) => {
    route(
      { path: '/share-kyc-data', summary: "Share a linked user's KYC data", schema: ShareKycData, options: null },
      async (body, { broker, raw }) => {
        const r = await kyc.share(broker, raw, body);
        return r.ok ? { data: null } : { code: r.code, detail: r.message ?? r.code };
      },
    );

    route(
      {
        path: '/query-share-data-status',
        summary: 'Status of one share (INIT, SUCCESS, FAIL)',
        schema: QueryShareDataStatus,
        options: null,
      },
      async (q, { broker }) => ({
        data: await kyc.shareStatus(broker, q.entityCustomerId, q.requestNo),
      }),
    );

    route(
      { path: '/check-kyc-status', summary: 'KYC status of a linked user', schema: CheckKycStatus, options: null },
      async (q, { broker }) => {
        const rec = await kyc.recordFor(broker, q);
        if (!rec) return { data: { statusInfo: null, levelInfo: null, nonExisted: true } };
        return { data: { ...statusVo(rec), nonExisted: false } };
      },
    );
  });

  const guard = adminGuard(deps.adminToken);
  const security = [{ adminToken: [] }];
  app.register(async (r) => {
    r.addHook('onRequest', guard);
    const tags = ['Admin'];

    r.post(
      '/admin/v1/brokers',
      {
        schema: {
          tags,
          security,
          summary: 'Create a KYC sharing broker (the secret is shown once)',
          body: BrokerCreate,
        },
      },
      async (req, reply) => {
        const res = await kyc.createBroker(req.body as z.infer<typeof BrokerCreate>);
        if (!res.ok) return adminError(reply, 400, res.code, res.message);
        return reply.code(201).send({ ...res.value.broker, secret: res.value.secret });
      },
    );
    r.get('/admin/v1/brokers', { schema: { tags, security, summary: 'List KYC sharing brokers' } }, async () =>
      kyc.listBrokers(),
    );
    r.get(
      '/admin/v1/brokers/:key',
      {
        schema: { tags, security, summary: 'A KYC sharing broker (without its secret)', params: BrokerKey },
      },
      async (req, reply) => {
        const b = await kyc.brokerSettings((req.params as { key: string }).key);
        return b ?? adminError(reply, 404, 'BROKER_NOT_FOUND');
      },
    );
    r.post(
      '/admin/v1/brokers/:key/secret',
      {
        schema: {
          tags,
          security,
          summary: "Rotate a broker's secret: the new one is returned once, the old one stops working at once",
          params: BrokerKey,
        },
      },
      async (req, reply) => {
        const res = await kyc.rotateBrokerSecret((req.params as { key: string }).key);
        if (!res.ok) return adminError(reply, 404, res.code);
        return res.value;
      },
    );
    r.patch(
      '/admin/v1/brokers/:key',
      {
        schema: {
          tags,
          security,
          summary:
            'Update a broker (partial sharing, IP whitelist, main accounts, questionnaires, Connect partner link, enabled)',
          params: z.object({ key: z.string().max(128) }),
          body: BrokerPatch,
        },
      },
      async (req, reply) => {
        const res = await kyc.updateBroker(
          (req.params as { key: string }).key,
          req.body as z.infer<typeof BrokerPatch>,
        );
        if (!res.ok) return adminError(reply, res.code === 'BROKER_NOT_FOUND' ? 404 : 400, res.code, res.message);
        return res.value;
      },
    );

    r.get(
      '/admin/v1/kyc',
      {
        schema: {
          tags,
          security,
          summary: 'KYC review queue',
          querystring: z.object({
            status: z.enum(['INITIAL', 'PROCESS', 'REVIEW', 'PASS', 'REJECT']).optional(),
            source: z.enum(['broker', 'buyflow']).optional(),
          }),
        },
      },
      async (req) => {
        const q = req.query as { status?: string; source?: string };
        return kyc.listRecords(q.status, q.source);
      },
    );
    r.get(
      '/admin/v1/kyc/:id',
      { schema: { tags, security, summary: 'A KYC record with its data', params: RecordId } },
      async (req, reply) => {
        const id = (req.params as { id: string }).id;
        const rec = await kyc.getRecord(id);
        return rec ? { ...rec, history: await kyc.recordHistory(id) } : adminError(reply, 404, 'KYC_NOT_FOUND');
      },
    );
    r.get(
      '/admin/v1/kyc/:id/files/:fileId',
      {
        schema: {
          tags,
          security,
          summary: 'A stored KYC document image',
          params: z.object({ id: int8Id, fileId: int8Id }),
        },
      },
      async (req, reply) => {
        const p = req.params as { id: string; fileId: string };
        const f = await kyc.getFile(p.id, p.fileId);
        if (!f) return adminError(reply, 404, 'FILE_NOT_FOUND');
        return reply.type(f.contentType).header('cache-control', 'no-store').send(f.bytes);
      },
    );
    r.post(
      '/admin/v1/kyc/:id/decision',
      { schema: { tags, security, summary: "The reviewer's decision", params: RecordId, body: Decision } },
      async (req, reply) => {
        const b = req.body as z.infer<typeof Decision>;
        const res = await kyc.decide((req.params as { id: string }).id, b.decision, b.reason);
        if (!res.ok) return adminError(reply, res.code === 'KYC_NOT_FOUND' ? 404 : 409, res.code, res.message);
        return res.value;
      },
    );

    if (deps.mode === 'sandbox') {
      r.post(
        '/sandbox/v1/kyc/:userId/decision',
        {
          schema: {
            tags: ['Sandbox'],
            security,
            summary: "The reviewer's decision on a KYC record (kycUserId), or on a payer's payout KYC (payerId)",
            params: z.object({ userId: int8Id }),
            body: Decision,
          },
        },
        async (req, reply) => {
          const b = req.body as z.infer<typeof Decision>;
          const userId = (req.params as { userId: string }).userId;
          const res = await kyc.decide(userId, b.decision, b.reason);
          if (!res.ok && res.code === 'KYC_NOT_FOUND' && deps.accounts) {
            // Not a KYC Sharing record: a payer id verifies (or rejects) a payout e-mail recipient
            // (binance-pay-extended.md §18.5); an AWAITING_RECEIPT payout to their e-mail is then claimed.
            const payer = await deps.accounts.setPayerKycStatus(userId, b.decision);
            if (payer) return { payerId: String(payer.payerId), email: payer.email, kycStatus: payer.kycStatus };
          }
          if (!res.ok) return adminError(reply, res.code === 'KYC_NOT_FOUND' ? 404 : 409, res.code, res.message);
          return res.value;
        },
      );
    }
  });
}
