import type { Queryable } from '../../platform/db/client.ts';
import { Decimal } from '../../platform/money.ts';

/**
 * Purchase limits (binance-connect.md §6.2): the USD value of the user's orders confirmed in the last 24 h
 * (rolling) that are PROCESSING or SUCCESS, plus this order, must stay within the level's daily limit.
 * The limit is a person's, not an account's: the usage is summed over every account of the same identity
 * (buyflow_users.kyc_record_id, the KYC record that verified it; see identity.ts).
 * `checkLimitLocked` runs inside the confirm transaction after locking the user row and the identity's row, so two
 * parallel confirms of one person serialise and cannot jointly pass the limit.
 */
export type KycLevel = 'NONE' | 'VERIFIED' | 'VERIFIED_PLUS';
const DAILY_LIMIT_USD: Record<KycLevel, string> = { NONE: '0', VERIFIED: '50000', VERIFIED_PLUS: '200000' };
const WINDOW_MS = 24 * 3_600_000;

interface LimitCheck {
  ok: boolean;
  limitUsd: string;
  usedUsd: string;
  remainingUsd: string;
}

/**
 * USD confirmed in the window by the user and every other account of the same identity (the user alone without one).
 * One statement across owners, on purpose: whether an order counts is its Connect status (connect_orders), summed in
 * the confirm transaction's own snapshot together with the buy-flow amounts.
 */
async function usedUsd(q: Queryable, userId: string, now: number, exceptOrderId?: string): Promise<string> {
  const r = (
    await q.query(
      `SELECT coalesce(sum(b.usd_amount), 0)::text AS used FROM buyflow_orders b JOIN connect_orders c
        ON c.order_id = b.order_id
     WHERE b.user_id IN (SELECT a.id FROM buyflow_users me JOIN buyflow_users a ON a.id = me.id
     OR a.kyc_record_id = me.kyc_record_id WHERE me.id = $1)
       AND b.confirmed_at > $2 AND c.main_status IN ('PROCESSING', 'SUCCESS') AND b.order_id <> $3`,
      [userId, now - WINDOW_MS, exceptOrderId ?? ''],
    )
  ).rows[0];
  return new Decimal(r.used).toFixed();
}

/**
 * Locks the user, then the row that stands for its identity (always in this order, as the bind does), then checks
 * `amountUsd` against what is left. The caller marks the order confirmed in the same transaction.
 */
export async function checkLimitLocked(
  q: Queryable,
  userId: string,
  level: KycLevel,
  amountUsd: string,
  now: number,
  orderId: string,
): Promise<LimitCheck> {
  const u = (await q.query(`SELECT kyc_record_id FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])).rows[0];
  if (u?.kyc_record_id != null)
    await q.query(`SELECT kyc_record_id FROM buyflow_identities WHERE kyc_record_id = $1 FOR UPDATE`, [
      u.kyc_record_id,
    ]);
  const used = new Decimal(await usedUsd(q, userId, now, orderId));
  const limit = new Decimal(DAILY_LIMIT_USD[level]);
  const remaining = Decimal.max(0, limit.minus(used));
  return {
    ok: new Decimal(amountUsd).lte(remaining),
    limitUsd: limit.toFixed(2),
    usedUsd: used.toFixed(2),
    remainingUsd: remaining.toFixed(2),
  };
}
