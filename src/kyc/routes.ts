import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import { hmacSha256Hex, safeEqual } from '../platform/crypto.ts';
import { ipAllowed, normalizeIp } from '../platform/ip.ts';
import { containsUnstorableText } from '../platform/json.ts';
import { kycEnvelope, type KycErrorCode, type KycFailure } from './codes.ts';
import type { Broker, KycService } from './service.ts';
import { statusVo } from './service.ts';

/**
 * KYC Sharing HTTP edge (kyc-sharing.md), the operator's broker and review-queue API and the sandbox decision
 * helper (platform.md). Signed routes: parse the JSON without touching rawBody, find the broker, check its IP
 * whitelist, then verify X-SHA2-Signature over the exact received bytes; only then validate fields.
 * (The spec lists the IP check first; the whitelist belongs to a broker, so the broker is looked up first.)
 */
export const KYC_BASE = '/bapi/ekyc/v2/public/ekyc/customer';
const BASE = KYC_BASE;

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

type Authed = { ok: true; broker: Broker; body: Record<string, unknown>; raw: Buffer } | { ok: false; failure: KycFailure };
const fail = (code: KycErrorCode, detail: string): Authed => ({ ok: false, failure: { code, detail } });

export function kycSignature(secret: string, rawBody: Buffer | string): string {
  return hmacSha256Hex(Buffer.from(secret, 'utf8'), rawBody);
}

function createKycAuth(kyc: KycService) {
  return async function authenticate(req: FastifyRequest): Promise<Authed> {
    if (req.method !== 'POST') return fail('BAD_REQUEST', 'method not allowed');
    const contentType = (header(req, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (contentType !== 'application/json') return fail('BAD_REQUEST', 'Content-Type must be application/json');
    const raw = req.rawBody ?? Buffer.alloc(0);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return fail('BAD_REQUEST', 'body is not a JSON object');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail('BAD_REQUEST', 'body is not a JSON object');
    // Before the broker lookup: a NUL cannot reach a text column (not even as bizEntityKey).
    if (containsUnstorableText(body)) return fail('INVALID_PARAM', 'a field contains a NUL character or malformed Unicode');
    const obj = body as Record<string, unknown>;
    const key = obj.bizEntityKey;
    if (typeof key !== 'string' || key === '' || key.length > 128) return fail('UNKNOWN_BROKER', 'bizEntityKey: is required');
    const broker = await kyc.getBroker(key);
    if (!broker) return fail('UNKNOWN_BROKER', 'bizEntityKey: unknown');
    if (!ipAllowed(broker.ipWhitelist, normalizeIp(req.ip))) return fail('IP_NOT_ALLOWED', 'IP not allowed');
    if (broker.status !== 'ACTIVE') return fail('BROKER_DISABLED', 'broker is disabled; contact support');
    const given = (header(req, 'x-sha2-signature') ?? header(req, 'x-sha-signature') ?? '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(given) || !safeEqual(kycSignature(broker.secret, raw), given)) return fail('SIGN_MISMATCH', 'X-SHA2-Signature does not match the request body');
    return { ok: true, broker, body: obj, raw };
  };
}

function requiredStrings(body: Record<string, unknown>, names: string[]): string | null {
  for (const n of names) {
    const v = body[n];
    if (v === undefined || v === null || v === '') return `${n}: is required`;
    if (typeof v !== 'string') return `${n}: must be a string`;
    if (v.length > 128) return `${n}: must be at most 128 characters`;
  }
  return null;
}

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
  ipWhitelist: z.array(z.string().max(64)).max(50).optional(),
  mainAccountIds: z.array(z.string().max(64)).max(100).optional(),
  questionnaireVersions: z.array(z.string().max(32)).max(20).optional(),
  maxSubAccountsPerUser: z.number().int().min(1).max(1000).optional(),
  connectPartnerCode: z.string().min(1).max(64).nullable().optional(),
  enabled: z.boolean().optional(),
});
const Decision = z.object({ decision: z.enum(['PASS', 'REJECT']), reason: z.string().max(256).optional() });
const RecordId = z.object({ id: z.string().regex(/^\d{1,19}$/) });

export function registerKycRoutes(app: FastifyInstance, deps: { kyc: KycService; adminToken: string; mode: 'sandbox' | 'production' }) {
  const { kyc } = deps;
  const authenticate = createKycAuth(kyc);

  const signed = (name: string, summary: string, handler: (a: { broker: Broker; body: Record<string, unknown>; raw: Buffer }) => Promise<{ data: unknown } | KycFailure>) => {
    const run = async (req: FastifyRequest, reply: FastifyReply) => {
      const send = (r: { data: unknown } | KycFailure) => {
        const e = kycEnvelope(r);
        return reply.code(e.status).type('application/json').send(e.body);
      };
      try {
        const a = await authenticate(req);
        if (!a.ok) return send(a.failure);
        return send(await handler(a));
      } catch (e) {
        req.log.error({ err: e }, 'kyc sharing request failed');
        return send({ code: 'INTERNAL', detail: 'internal error; retry' });
      }
    };
    const url = `${BASE}/${name}`;
    app.post(url, { schema: { tags: ['KYC Sharing'], summary } }, run);
    app.route({ method: ['GET', 'PUT', 'DELETE', 'PATCH'], url, schema: { hide: true }, handler: run });
  };

  signed('share-kyc-data', "Share a linked user's KYC data", async ({ broker, body, raw }) => {
    const r = await kyc.share(broker, raw, body);
    return r.ok ? { data: null } : { code: r.code, detail: r.message ?? r.code };
  });

  signed('query-share-data-status', 'Status of one share (INIT, SUCCESS, FAIL)', async ({ broker, body }) => {
    const bad = requiredStrings(body, ['entityCustomerId', 'requestNo']);
    if (bad) return { code: 'INVALID_PARAM', detail: bad };
    return { data: await kyc.shareStatus(broker, body.entityCustomerId as string, body.requestNo as string) };
  });

  signed('check-kyc-status', 'KYC status of a linked user', async ({ broker, body }) => {
    const bad = requiredStrings(body, ['entityCustomerId', 'kycType', 'brokerMainAccountId', 'brokerSubAccountId']);
    if (bad) return { code: 'INVALID_PARAM', detail: bad };
    if (body.kycType !== 'USER') return { code: 'INVALID_PARAM', detail: 'kycType: must be USER' };
    const rec = await kyc.recordFor(broker, body as { entityCustomerId: string; brokerMainAccountId: string; brokerSubAccountId: string });
    if (!rec) return { data: { statusInfo: null, levelInfo: null, nonExisted: true } };
    return { data: { ...statusVo(rec), nonExisted: false } };
  });

  const guard = adminGuard(deps.adminToken);
  const security = [{ adminToken: [] }];
  app.register(async (r) => {
    r.addHook('onRequest', guard);
    const tags = ['Admin'];

    r.post('/admin/v1/brokers', { schema: { tags, security, summary: 'Create a KYC sharing broker (the secret is shown once)', body: BrokerCreate } }, async (req, reply) => {
      const res = await kyc.createBroker(req.body as z.infer<typeof BrokerCreate>);
      if (!res.ok) return adminError(reply, 400, res.code, res.message);
      return reply.code(201).send({ ...res.value.broker, secret: res.value.secret });
    });
    r.get('/admin/v1/brokers', { schema: { tags, security, summary: 'List KYC sharing brokers' } }, async () => kyc.listBrokers());
    r.patch('/admin/v1/brokers/:key', {
      schema: { tags, security, summary: 'Update a broker (IP whitelist, main accounts, questionnaires, Connect partner link, enabled)', params: z.object({ key: z.string().max(128) }), body: BrokerPatch },
    }, async (req, reply) => {
      const res = await kyc.updateBroker((req.params as { key: string }).key, req.body as z.infer<typeof BrokerPatch>);
      if (!res.ok) return adminError(reply, res.code === 'BROKER_NOT_FOUND' ? 404 : 400, res.code, res.message);
      return res.value;
    });

    r.get('/admin/v1/kyc', {
      schema: { tags, security, summary: 'KYC review queue', querystring: z.object({ status: z.enum(['INITIAL', 'PROCESS', 'REVIEW', 'PASS', 'REJECT']).optional() }) },
    }, async (req) => kyc.listRecords((req.query as { status?: string }).status));
    r.get('/admin/v1/kyc/:id', { schema: { tags, security, summary: 'A KYC record with its data', params: RecordId } }, async (req, reply) => {
      const rec = await kyc.getRecord((req.params as { id: string }).id);
      return rec ?? adminError(reply, 404, 'KYC_NOT_FOUND');
    });
    r.get('/admin/v1/kyc/:id/files/:fileId', {
      schema: { tags, security, summary: 'A stored KYC document image', params: z.object({ id: z.string().regex(/^\d{1,19}$/), fileId: z.string().regex(/^\d{1,19}$/) }) },
    }, async (req, reply) => {
      const p = req.params as { id: string; fileId: string };
      const f = await kyc.getFile(p.id, p.fileId);
      if (!f) return adminError(reply, 404, 'FILE_NOT_FOUND');
      return reply.type(f.contentType).header('cache-control', 'no-store').send(f.bytes);
    });
    r.post('/admin/v1/kyc/:id/decision', { schema: { tags, security, summary: "The reviewer's decision", params: RecordId, body: Decision } }, async (req, reply) => {
      const b = req.body as z.infer<typeof Decision>;
      const res = await kyc.decide((req.params as { id: string }).id, b.decision, b.reason);
      if (!res.ok) return adminError(reply, res.code === 'KYC_NOT_FOUND' ? 404 : 409, res.code, res.message);
      return res.value;
    });

    if (deps.mode === 'sandbox') {
      r.post('/sandbox/v1/kyc/:userId/decision', {
        schema: { tags: ['Sandbox'], security, summary: "The reviewer's decision on a KYC record (kycUserId)", params: z.object({ userId: z.string().regex(/^\d{1,19}$/) }), body: Decision },
      }, async (req, reply) => {
        const b = req.body as z.infer<typeof Decision>;
        const res = await kyc.decide((req.params as { userId: string }).userId, b.decision, b.reason);
        if (!res.ok) return adminError(reply, res.code === 'KYC_NOT_FOUND' ? 404 : 409, res.code, res.message);
        return res.value;
      });
    }
  });
}
