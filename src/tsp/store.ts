import type { Queryable } from '../platform/db/client.ts';
import type { AuthStatus } from './service.ts';
import { assertTransition } from './state.ts';

/** SQL of the tsp_authorizations table. Rows come back with the TSP's and the merchant's names and statuses. */
export interface AuthRow {
  id: bigint;
  tsp_merchant_id: bigint;
  tsp_name: string;
  tsp_is_tsp: boolean;
  merchant_id: bigint;
  merchant_name: string;
  merchant_status: string;
  status: AuthStatus;
  source: 'API' | 'MANUAL';
  scopes: string[];
  ip_whitelist: string[];
  token_sealed: string;
  created_at: bigint;
  expires_at: bigint;
  decided_at: bigint | null;
}

const SELECT = `SELECT a.*, t.name AS tsp_name, (t.tsp_allow_scopes IS
  NOT NULL) AS tsp_is_tsp, m.name AS merchant_name, m.status AS merchant_status
  FROM tsp_authorizations a JOIN merchants t ON t.id = a.tsp_merchant_id JOIN merchants m ON m.id = a.merchant_id`;

/** Re-reads changed rows with their joins; `RETURNING` cannot join. */
async function reload(q: Queryable, ids: bigint[]): Promise<AuthRow[]> {
  if (ids.length === 0) return [];
  return (await q.query<AuthRow>(`${SELECT} WHERE a.id = ANY($1::bigint[]) ORDER BY a.id`, [ids.map(String)])).rows;
}

export async function insert(
  q: Queryable,
  a: {
    id: bigint;
    tspMerchantId: string;
    merchantId: string;
    source: string;
    scopes: string[];
    ipWhitelist: string[];
    tokenHash: string;
    tokenSealed: string;
    now: number;
    expiresAt: number;
  },
) {
  await q.query(
    `INSERT INTO tsp_authorizations (id, tsp_merchant_id, merchant_id, status, source, scopes, ip_whitelist, token_hash,
      token_sealed, created_at, expires_at, updated_at)
     VALUES ($1, $2, $3, 'PENDING', $4, $5, $6, $7, $8, $9, $10, $9)`,
    [
      a.id,
      a.tspMerchantId,
      a.merchantId,
      a.source,
      JSON.stringify(a.scopes),
      JSON.stringify(a.ipWhitelist),
      a.tokenHash,
      a.tokenSealed,
      a.now,
      a.expiresAt,
    ],
  );
}

export async function byId(q: Queryable, id: string): Promise<AuthRow | null> {
  return (await q.query<AuthRow>(`${SELECT} WHERE a.id = $1`, [id])).rows[0] ?? null;
}

export async function byTokenHash(q: Queryable, hash: string): Promise<AuthRow | null> {
  return (await q.query<AuthRow>(`${SELECT} WHERE a.token_hash = $1`, [hash])).rows[0] ?? null;
}

export async function listForTsp(
  q: Queryable,
  tspMerchantId: string,
  o: { merchantId: string | null; limit: number; offset: number },
) {
  const where = `WHERE a.tsp_merchant_id = $1 AND ($2::bigint IS NULL OR a.merchant_id = $2)`;
  const total = Number(
    (await q.query(`SELECT count(*) AS n FROM tsp_authorizations a ${where}`, [tspMerchantId, o.merchantId])).rows[0].n,
  );
  const rows = (
    await q.query<AuthRow>(`${SELECT} ${where} ORDER BY a.id DESC LIMIT $3 OFFSET $4`, [
      tspMerchantId,
      o.merchantId,
      o.limit,
      o.offset,
    ])
  ).rows;
  return { total, rows };
}

export async function listForMerchant(q: Queryable, merchantId: string): Promise<AuthRow[]> {
  return (await q.query<AuthRow>(`${SELECT} WHERE a.merchant_id = $1 ORDER BY a.id DESC LIMIT 200`, [merchantId])).rows;
}

export async function findOne(
  q: Queryable,
  tspMerchantId: string,
  by: { merchantId: string | null; authorizationId: string | null },
): Promise<AuthRow | null> {
  return (
    (
      await q.query<AuthRow>(
        `${SELECT} WHERE a.tsp_merchant_id = $1 AND ($2::bigint IS NULL OR a.merchant_id = $2) AND ($3::bigint IS ` +
          `NULL OR a.id = $3)
     ORDER BY (a.status = 'AUTHORIZED') DESC, a.id DESC LIMIT 1`,
        [tspMerchantId, by.merchantId, by.authorizationId],
      )
    ).rows[0] ?? null
  );
}

/**
 * The one state-machine step: a conditional update from one status to another (spec §7.3, the table in state.ts), so
 * two concurrent decisions cannot both win. Selects by id, or by the (TSP, merchant) pair.
 */
export async function transition(
  q: Queryable,
  t: {
    id?: string;
    tspMerchantId?: string;
    merchantId?: string;
    from: AuthStatus;
    to: AuthStatus;
    now: number;
    notExpiredAt?: number;
  },
): Promise<AuthRow[]> {
  assertTransition(t.from, t.to);
  const r = await q.query<{ id: bigint }>(
    `UPDATE tsp_authorizations SET status = $1, decided_at = CASE WHEN $2 = 'PENDING' THEN $3 ELSE decided_at
      END, updated_at = $3
     WHERE status = $2 AND ($4::bigint IS NULL OR id = $4) AND ($5::bigint IS NULL OR tsp_merchant_id = $5)
     AND ($6::bigint IS NULL OR merchant_id = $6)
       AND ($7::bigint IS NULL OR expires_at > $7)
     RETURNING id`,
    [t.to, t.from, t.now, t.id ?? null, t.tspMerchantId ?? null, t.merchantId ?? null, t.notExpiredAt ?? null],
  );
  return reload(
    q,
    r.rows.map((x) => x.id),
  );
}

export async function update(
  q: Queryable,
  id: string,
  merchantId: string,
  u: { scopes: string[]; ipWhitelist: string[]; now: number },
): Promise<AuthRow[]> {
  const r = await q.query<{ id: bigint }>(
    `UPDATE tsp_authorizations SET scopes = $3, ip_whitelist = $4, updated_at = $5 WHERE id = $1 AND merchant_id = $2
      AND status = 'AUTHORIZED' RETURNING id`,
    [id, merchantId, JSON.stringify(u.scopes), JSON.stringify(u.ipWhitelist), u.now],
  );
  return reload(
    q,
    r.rows.map((x) => x.id),
  );
}

/** PENDING → REJECTED for requests past expiresAt, oldest first. */
export async function expire(q: Queryable, now: number, limit: number): Promise<AuthRow[]> {
  assertTransition('PENDING', 'REJECTED');
  const r = await q.query<{ id: bigint }>(
    `UPDATE tsp_authorizations SET status = 'REJECTED', decided_at = $1, updated_at = $1
     WHERE id IN (SELECT id FROM tsp_authorizations WHERE status = 'PENDING' AND expires_at <= $1 ORDER BY expires_at
     LIMIT $2) AND status = 'PENDING'
     RETURNING id`,
    [now, limit],
  );
  return reload(
    q,
    r.rows.map((x) => x.id),
  );
}

/** Requests the TSP created since `since` (platform clock): the rate limit's count, shared by every process. */
export async function countCreatedSince(q: Queryable, tspMerchantId: string, since: number): Promise<number> {
  return Number(
    (
      await q.query(`SELECT count(*) AS n FROM tsp_authorizations WHERE tsp_merchant_id = $1 AND created_at > $2`, [
        tspMerchantId,
        since,
      ])
    ).rows[0].n,
  );
}

export async function pendingFor(q: Queryable, tspMerchantId: string, merchantId: string): Promise<AuthRow | null> {
  return (
    (
      await q.query<AuthRow>(`${SELECT} WHERE a.tsp_merchant_id = $1 AND a.merchant_id = $2 AND a.status = 'PENDING'`, [
        tspMerchantId,
        merchantId,
      ])
    ).rows[0] ?? null
  );
}

// ---- tsp_blocks: providers a merchant blocked ----

export async function isBlocked(q: Queryable, merchantId: string, tspMerchantId: string): Promise<boolean> {
  return (
    (
      await q.query(`SELECT 1 FROM tsp_blocks WHERE merchant_id = $1 AND tsp_merchant_id = $2`, [
        merchantId,
        tspMerchantId,
      ])
    ).rows.length > 0
  );
}

export async function block(q: Queryable, merchantId: string, tspMerchantId: string, now: number): Promise<void> {
  await q.query(
    `INSERT INTO tsp_blocks (merchant_id, tsp_merchant_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
    [merchantId, tspMerchantId, now],
  );
}

export async function unblock(q: Queryable, merchantId: string, tspMerchantId: string): Promise<boolean> {
  return (
    (
      await q.query(
        `DELETE FROM tsp_blocks WHERE merchant_id = $1 AND tsp_merchant_id = $2 RETURNING tsp_merchant_id`,
        [merchantId, tspMerchantId],
      )
    ).rows.length > 0
  );
}

export async function listBlocked(
  q: Queryable,
  merchantId: string,
): Promise<{ tsp_merchant_id: bigint; tsp_name: string; created_at: bigint }[]> {
  return (
    await q.query<{ tsp_merchant_id: bigint; tsp_name: string; created_at: bigint }>(
      `SELECT b.tsp_merchant_id, t.name AS tsp_name, b.created_at FROM tsp_blocks b JOIN merchants t
        ON t.id = b.tsp_merchant_id
     WHERE b.merchant_id = $1 ORDER BY b.created_at DESC LIMIT 200`,
      [merchantId],
    )
  ).rows;
}
