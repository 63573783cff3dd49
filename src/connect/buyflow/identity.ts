import type { Queryable } from '../../platform/db/client.ts';
import type { DbRow } from '../../platform/db/client.ts';

/**
 * Buy-flow identities (issue #12, migration 0015). A passed KYC record is an identity: a broker-shared record
 * (bizEntityKey + entityCustomerId) or an account's own buy-flow record. It verifies at most one buy-flow account,
 * the first that binds it: buyflow_identities' primary key decides, so of two concurrent binds one inserts and the
 * other finds the row taken. An account refused a shared identity is recorded for the operator. The account's
 * identity key is buyflow_users.kyc_record_id; limits.ts counts the daily limit per identity.
 */

type IdentitySource = 'shared' | 'buyflow';

/**
 * Binds the identity to the account unless another account holds it. The caller holds the account's row lock
 * (FOR UPDATE), so one account's concurrent binds serialise, and writes its verification in the same transaction.
 * True when the identity is now (or already was) this account's.
 */
export async function bindIdentity(
  q: Queryable,
  kycRecordId: string,
  userId: string,
  source: IdentitySource,
  now: number,
): Promise<boolean> {
  const ins = await q.query(
    `INSERT INTO buyflow_identities (kyc_record_id, user_id, source, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT
      DO NOTHING`,
    [kycRecordId, userId, source, now],
  );
  if (ins.rowCount === 1) return true;
  const holder = (await q.query(`SELECT user_id FROM buyflow_identities WHERE kyc_record_id = $1`, [kycRecordId]))
    .rows[0];
  return holder !== undefined && String(holder.user_id) === String(userId);
}

/** An account presented a shared identity bound to another account: one row per (record, account), counted. */
export async function noteIdentityConflict(
  q: Queryable,
  c: { kycRecordId: string; userId: string; partnerCode: string; merchantUserId: string; now: number },
) {
  await q.query(
    `INSERT INTO buyflow_identity_conflicts (kyc_record_id, user_id, partner_code, merchant_user_id, detected_by,
      first_at, last_at)
     VALUES ($1, $2, $3, $4, 'buyflow', $5, $5)
     ON CONFLICT (kyc_record_id, user_id) DO UPDATE
     SET attempts = buyflow_identity_conflicts.attempts + 1, last_at = EXCLUDED.last_at,
       partner_code = EXCLUDED.partner_code, merchant_user_id = EXCLUDED.merchant_user_id`,
    [c.kycRecordId, c.userId, c.partnerCode, c.merchantUserId, c.now],
  );
}

interface IdentityConflict {
  kycUserId: string;
  bizEntityKey: string | null;
  entityCustomerId: string | null;
  boundUserId: string | null;
  boundIdentifier: string | null;
  userId: string;
  identifier: string;
  partnerCode: string | null;
  merchantUserId: string | null;
  detectedBy: 'buyflow' | 'migration';
  attempts: number;
  firstAt: number;
  lastAt: number;
}

/** For the operator (GET /admin/v1/connect/identity-conflicts): latest first, optionally for one KYC record. */
export async function listIdentityConflicts(
  q: Queryable,
  opts: { kycUserId?: string; limit?: number } = {},
): Promise<IdentityConflict[]> {
  const r = await q.query(
    `SELECT c.*, r.biz_entity_key, r.entity_customer_id, i.user_id AS bound_user_id, bu.identifier AS bound_identifier,
      u.identifier
     FROM buyflow_identity_conflicts c
     JOIN kyc_records r ON r.id = c.kyc_record_id
     JOIN buyflow_users u ON u.id = c.user_id
     LEFT JOIN buyflow_identities i ON i.kyc_record_id = c.kyc_record_id
     LEFT JOIN buyflow_users bu ON bu.id = i.user_id
     WHERE ($1::bigint IS NULL OR c.kyc_record_id = $1)
     ORDER BY c.last_at DESC, c.kyc_record_id, c.user_id LIMIT $2`,
    [opts.kycUserId ?? null, opts.limit ?? 500],
  );
  return r.rows.map((x: DbRow) => ({
    kycUserId: String(x.kyc_record_id),
    bizEntityKey: x.biz_entity_key,
    entityCustomerId: x.entity_customer_id,
    boundUserId: x.bound_user_id == null ? null : String(x.bound_user_id),
    boundIdentifier: x.bound_identifier ?? null,
    userId: String(x.user_id),
    identifier: x.identifier,
    partnerCode: x.partner_code,
    merchantUserId: x.merchant_user_id,
    detectedBy: x.detected_by,
    attempts: Number(x.attempts),
    firstAt: Number(x.first_at),
    lastAt: Number(x.last_at),
  }));
}
