import type { AccountsService } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import { randomString } from '../../platform/crypto.ts';
import type { Db, DbRow } from '../../platform/db/client.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import { raw } from '../../platform/json.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import type { Outbox } from '../../platform/outbox/service.ts';
import type { PayDomainError } from '../codes.ts';
import { enqueuePayWebhook } from '../events.ts';
import type { SubMerchantDirectory } from '../extension.ts';
import { replayOf, requestFingerprint } from '../idempotency.ts';
import type { Actor } from '../orders/service.ts';
import type { Category, PayerVerification, ShareAccountId } from './schemas.ts';

/**
 * Payer verification and share account id (binance-pay-extended.md §17.1, §17.2).
 *
 * Verification compares what a merchant holds with the identity the payer's approved KYC attests; nothing is stored
 * and no money moves. A share request is a row the user decides on the consent page: Agree records the user and queues
 * the SHARE_ACCOUNT_ID webhook in the same transaction; Decline records the refusal; neither is possible once the
 * request has expired (15 minutes, business clock), and nothing is ever sent for a declined or expired request.
 */

/** The identity an approved KYC record attests (src/kyc: approvedBuyflowIdentity). */
export interface KycIdentity {
  firstName: string | null;
  lastName: string | null;
  dateOfBirth: string | null;
  nationality: string | null;
  documentType: string | null;
  documentNumber: string | null;
}
export type KycIdentityLookup = (userId: string) => Promise<KycIdentity | null>;

export const SHARE_TTL_MS = 15 * 60_000;

export type ShareStatus = 'PENDING' | 'AGREED' | 'DECLINED' | 'EXPIRED';
export type ShareDecision = 'AGREE' | 'DECLINE';
export type ShareDecisionError = 'SHARE_NOT_FOUND' | 'SHARE_EXPIRED' | 'SHARE_DECIDED';

export interface ShareRequest {
  id: string;
  merchantId: string;
  creatorMerchantId: string;
  requestId: string;
  subMerchantId: string | null;
  token: string;
  /** EXPIRED when still undecided past expireTime (the row stays PENDING: nothing needs to happen then). */
  status: ShareStatus;
  payerId: string | null;
  expireTime: number;
  createdAt: number;
}

const toShare = (r: DbRow, now: number): ShareRequest => ({
  id: String(r.id),
  merchantId: String(r.merchant_id),
  creatorMerchantId: String(r.creator_merchant_id),
  requestId: r.request_id,
  subMerchantId: r.sub_merchant_id === null ? null : String(r.sub_merchant_id),
  token: r.token,
  status: r.status === 'PENDING' && Number(r.expire_time) <= now ? 'EXPIRED' : r.status,
  payerId: r.payer_id === null ? null : String(r.payer_id),
  expireTime: Number(r.expire_time),
  createdAt: Number(r.created_at),
});

/** How each category is read from the KYC identity and compared (§17.1: names trimmed, case-insensitive; …). */
const name = (v: string) => v.trim().toLowerCase();
const COMPARE: Record<
  'FIRST_NAME' | 'LAST_NAME' | 'DATE_OF_BIRTH' | 'NATIONALITY' | 'DOCUMENT_TYPE' | 'DOCUMENT_NUMBER',
  [keyof KycIdentity, (v: string) => string]
> = {
  FIRST_NAME: ['firstName', name],
  LAST_NAME: ['lastName', name],
  DATE_OF_BIRTH: ['dateOfBirth', (v) => v],
  NATIONALITY: ['nationality', (v) => v.toUpperCase()],
  DOCUMENT_TYPE: ['documentType', (v) => v],
  DOCUMENT_NUMBER: ['documentNumber', (v) => v],
};

export function matchesIdentity(identity: KycIdentity, information: { category: Category; value: string }[]) {
  return information.every(({ category, value }) => {
    const rule = COMPARE[category as keyof typeof COMPARE];
    if (!rule) return false; // a corporate category: an individual's record attests none
    const [field, norm] = rule;
    const held = identity[field];
    return held !== null && norm(held) === norm(value);
  });
}

export function createShareInfoService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  outbox: Outbox;
  accounts: AccountsService;
  subMerchants: SubMerchantDirectory;
  kycIdentity: KycIdentityLookup;
  publicUrl: string;
}) {
  const { db, clock, ids, outbox, accounts } = deps;
  const pageUrl = (token: string) => `${deps.publicUrl}/checkout/share-account/${token}`;

  async function stored(merchantId: string, requestId: string) {
    return (
      await db.query(`SELECT * FROM pay_share_requests WHERE merchant_id = $1 AND request_id = $2`, [
        merchantId,
        requestId,
      ])
    ).rows[0];
  }

  /** `/shareinfo/accountId` data (§17.2). */
  const wire = (s: ShareRequest) => ({
    merchantId: raw(s.merchantId),
    id: s.id,
    requestId: s.requestId,
    expireTime: s.expireTime,
    qrcodeContent: pageUrl(s.token),
    qrcodeUrl: `${pageUrl(s.token)}/qr.png`,
  });

  async function byId(id: string): Promise<ShareRequest | null> {
    if (!/^\d{1,19}$/.test(id)) return null;
    const row = (await db.query(`SELECT * FROM pay_share_requests WHERE id = $1`, [id])).rows[0];
    return row ? toShare(row, clock.now()) : null;
  }

  return {
    pageUrl,
    wire,
    byId,

    /** §17.1: does the merchant's data match the payer's approved KYC? An unknown payer is ACCOUNT_NOT_FOUND. */
    async verify(input: PayerVerification): Promise<Result<boolean, PayDomainError>> {
      const payer = await accounts.getPayer(input.binanceId);
      if (!payer) return err('ACCOUNT_NOT_FOUND', 'account not found');
      // Rampart's KYC knows individuals only: no user has an approved KYC of type CORPORATE.
      if (input.payerType === 'CORPORATE') return ok(false);
      const identity = await deps.kycIdentity(payer.userId);
      if (!identity) return ok(false);
      return ok(!input.information || matchesIdentity(identity, input.information));
    },

    /** §17.2: a new request, or the stored one for the same requestId and parameters (§9.4). */
    async request(actor: Actor, input: ShareAccountId): Promise<Result<ShareRequest, PayDomainError>> {
      const merchantId = actor.merchantId;
      const fingerprint = requestFingerprint({
        subMerchantId: input.subMerchantId ?? null,
        webhookUrl: input.webhookUrl ?? null,
      });
      const replay = replayOf(fingerprint, { field: 'requestId', column: 'request_id' }, (row) =>
        toShare(row, clock.now()),
      );
      const existing = await stored(merchantId, input.requestId);
      if (existing) return replay(existing);
      if (input.subMerchantId != null && !(await deps.subMerchants.isActive(db, merchantId, input.subMerchantId)))
        return err('SUB_MERCHANT_INVALID');
      const now = clock.now();
      await db.query(
        `INSERT INTO pay_share_requests (id, merchant_id, creator_merchant_id, request_id, fingerprint, sub_merchant_id,
          webhook_url, token, expire_time, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (merchant_id, request_id) DO NOTHING`,
        [
          ids.next(),
          merchantId,
          actor.creatorMerchantId,
          input.requestId,
          fingerprint,
          input.subMerchantId ?? null,
          input.webhookUrl ?? null,
          randomString(24),
          now + SHARE_TTL_MS,
          now,
        ],
      );
      // Ours, or a concurrent twin's: either way the stored row answers.
      const row = await stored(merchantId, input.requestId);
      if (!row) throw new Error(`share request ${input.requestId} of ${merchantId} not stored`);
      return replay(row);
    },

    async byToken(token: string): Promise<ShareRequest | null> {
      if (!/^[a-z0-9]{24}$/.test(token)) return null;
      const row = (await db.query(`SELECT * FROM pay_share_requests WHERE token = $1`, [token])).rows[0];
      return row ? toShare(row, clock.now()) : null;
    },

    /**
     * The user's decision, once: PENDING and unexpired → AGREED (with the webhook) or DECLINED, by one conditional
     * update. The same decision by the same user again is answered with the request as it is (a double click);
     * anything else on a decided or expired request is refused and changes nothing.
     */
    async decide(
      id: string,
      payerId: string,
      decision: ShareDecision,
    ): Promise<Result<ShareRequest, ShareDecisionError>> {
      const to = decision === 'AGREE' ? 'AGREED' : 'DECLINED';
      const decided = await db.tx(async (q) => {
        const now = clock.now();
        const r = await q.query(
          `UPDATE pay_share_requests SET status = $2, payer_id = $3, decided_at = $4
            WHERE id = $1 AND status = 'PENDING' AND expire_time > $4 RETURNING *`,
          [id, to, payerId, now],
        );
        const row = r.rows[0];
        if (!row) return null;
        if (to === 'AGREED') {
          const creator = await accounts.getMerchant(String(row.creator_merchant_id), q);
          await enqueuePayWebhook(outbox, q, {
            url: row.webhook_url ?? creator?.webhookUrl ?? null,
            ownerId: String(row.creator_merchant_id),
            bizType: 'SHARE_ACCOUNT_ID',
            bizId: String(row.id),
            bizStatus: 'SUCCESS',
            // Payers have no nickname in Rampart: userName is null, as the published sample allows.
            data: { requestId: row.request_id, userBinanceId: payerId, userName: null },
          });
        }
        return toShare(row, now);
      });
      if (decided) return ok(decided);
      const current = await byId(id);
      if (!current) return err('SHARE_NOT_FOUND', 'This request does not exist.');
      if (current.status === to && current.payerId === payerId) return ok(current);
      if (current.status === 'EXPIRED') return err('SHARE_EXPIRED', 'This request has expired.');
      return err('SHARE_DECIDED', `This request was already ${current.status.toLowerCase()}.`);
    },
  };
}

export type ShareInfoService = ReturnType<typeof createShareInfoService>;
