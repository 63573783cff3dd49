import type { Clock } from '../clock.ts';
import { onlyRow, type Db, type DbRow, type Queryable } from '../db/client.ts';
import { DomainError } from '../errors.ts';
import { Decimal, isDecimalString } from '../money.ts';

/**
 * Double-entry ledger. Every balance change is a transfer from one account to another of the same asset,
 * so each transfer balances by construction. Transfers are idempotent by caller-chosen id.
 * A hold is a PENDING transfer: it reserves the debit side (held) until it is posted or voided.
 * Customer accounts cannot go below zero (checked in the conditional update and by a table constraint).
 */
/**
 * `merchant` is a merchant's funding wallet, `merchant_spot` its spot wallet (binance-pay-extended.md §9.2);
 * `pay_order` holds what was sent on chain to one checkout order's address until the order takes it (src/pay/onchain).
 */
export type OwnerType = 'merchant' | 'merchant_spot' | 'payer' | 'platform' | 'user' | 'partner' | 'pay_order';

export interface AccountRef {
  ownerType: OwnerType;
  ownerId: string;
  asset: string;
}

interface TransferInput {
  id: string;
  debit: AccountRef;
  credit: AccountRef;
  amount: string;
  kind: string;
  ref?: string;
}

export interface Balance {
  asset: string;
  posted: string;
  held: string;
  available: string;
}

/** A posted transfer as read back for statements and reports. */
export interface PostedTransfer {
  id: string;
  debitAccount: string;
  creditAccount: string;
  asset: string;
  amount: string;
  kind: string;
  ref: string | null;
  createdAt: number;
  resolvedAt: number;
}

/** Platform accounts that stand for money outside the ledger and so may go negative. */
const SYSTEM_ACCOUNTS = new Set([
  'sandbox_mint',
  'inventory',
  'external',
  'card_settlement',
  'card_clearing',
  'conversion',
  'chain_wallets',
  // The operator's convert book (binance-pay-extended.md §15.5): market making, so it may be short an asset.
  'convert-house',
]);

export const accountId = (a: AccountRef) => `${a.ownerType}:${a.ownerId}:${a.asset}`;
/**
 * System accounts kept per network as `name.NETWORK` (e.g. `hot_wallet.ETH`): the platform's coins and the gas it paid
 * on one chain.
 */
const NETWORK_SYSTEM_ACCOUNTS = new Set(['hot_wallet', 'network_fees']);
const mayGoNegative = (a: AccountRef) =>
  a.ownerType === 'platform' &&
  (SYSTEM_ACCOUNTS.has(a.ownerId) || NETWORK_SYSTEM_ACCOUNTS.has(a.ownerId.split('.')[0]!));

export const platformAccount = (name: string, asset: string): AccountRef => ({
  ownerType: 'platform',
  ownerId: name,
  asset,
});

export interface Ledger {
  /** Posts a transfer immediately. Throws DomainError (to roll back the caller's transaction) on failure. */
  transfer(q: Queryable, t: TransferInput): Promise<{ duplicate: boolean }>;
  /** Creates a hold: a pending transfer reserving funds on the debit account. */
  hold(q: Queryable, t: TransferInput): Promise<{ duplicate: boolean }>;
  postHold(q: Queryable, id: string): Promise<void>;
  voidHold(q: Queryable, id: string): Promise<void>;
  balance(q: Queryable, a: AccountRef): Promise<Balance>;
  balances(q: Queryable, ownerType: OwnerType, ownerId: string): Promise<Balance[]>;
  /** What the platform owes its customers in one asset: the sum of every non-platform account (hot wallet ops). */
  customerTotal(q: Queryable, asset: string): Promise<Balance>;
  audit(): Promise<AuditReport>;
  /**
   * The audit's checks from the last clean checkpoint: the accounts' stored balances against the checkpoint's sums plus
   * the transfers resolved since, what is pending, and the new transfers' assets. Its work grows with the accounts and
   * the transfers since the checkpoint, not with the whole ledger. When clean it writes a new checkpoint at
   * `now - marginMs` (a transfer resolved before that mark but committed after this audit read would show up as a
   * mismatch next time, so the margin must exceed the longest transaction that moves money).
   */
  auditIncremental(opts?: { marginMs?: number }): Promise<IncrementalAuditReport>;
  /**
   * Posted transfers touching one account whose posting time (resolved_at) is in [from, to), in posting order,
   * with the account's posted balance at `from`. Opening + the signed amounts = the posted balance at `to`.
   */
  statement(
    q: Queryable,
    a: AccountRef,
    from: number,
    to: number,
  ): Promise<{ opening: string; transfers: PostedTransfer[] }>;
  /** Posted transfers of one kind whose ref is one of `refs`. */
  postedByRef(q: Queryable, kind: string, refs: string[]): Promise<PostedTransfer[]>;
  /** Accounts with their balances for the operator (console): filtered, ordered by id, `after` an id for paging. */
  accounts(q: Queryable, filter: AccountFilter): Promise<AccountBalance[]>;
  /**
   * Transfers for the operator's browser, newest first: filtered by account, kind, ref, status or asset; `before` is
   * the cursor of the last row of the previous page (`createdAt:id`).
   */
  browse(q: Queryable, filter: TransferFilter): Promise<TransferRecord[]>;
  /** Transfers in any status with one of the given ids, refs or kinds (an empty filter matches nothing). */
  transfers(q: Queryable, filter: { ids?: string[]; refs?: string[]; kinds?: string[] }): Promise<TransferRecord[]>;
}

type TransferStatus = 'POSTED' | 'PENDING' | 'VOIDED';

/** A transfer as stored, whatever its status: for reconciliation and the operator's views. */
export interface TransferRecord {
  id: string;
  debitAccount: string;
  creditAccount: string;
  asset: string;
  amount: string;
  status: TransferStatus;
  kind: string;
  ref: string | null;
  createdAt: number;
  resolvedAt: number | null;
}

export interface AccountFilter {
  ownerType?: string;
  ownerId?: string;
  asset?: string;
  /** Only accounts with a non-zero posted or held balance. */
  nonZero?: boolean;
  after?: string;
  limit?: number;
}

export interface AccountBalance extends Balance {
  id: string;
  ownerType: string;
  ownerId: string;
}

export interface TransferFilter {
  /** An account id (`ownerType:ownerId:asset`): transfers debiting or crediting it. */
  account?: string;
  kind?: string;
  ref?: string;
  status?: TransferStatus;
  asset?: string;
  /** `createdAt:id` of the last transfer already shown. */
  before?: string;
  limit?: number;
}

/** The cursor of a transfer in the browser's order (newest first). */
export const transferCursor = (t: Pick<TransferRecord, 'createdAt' | 'id'>) => `${t.createdAt}:${t.id}`;

export interface AuditReport {
  ok: boolean;
  transactions: number;
  accounts: number;
  problems: string[];
  /**
   * Information, not a problem: the operator's convert book (binance-pay-extended.md §15.5) per asset it has traded,
   * `net` its posted balance: positive = the house holds that much of the asset, negative = it is short that much.
   */
  convertHouse: { asset: string; net: string }[];
}

export interface IncrementalAuditReport extends AuditReport {
  /** The checkpoint the audit started from (null: none, the whole ledger read) and the one it wrote (null: none). */
  from: { id: number; upto: number } | null;
  wrote: { id: number; upto: number } | null;
  /** Transfers read beyond the checkpoint: resolved since it, or still pending. */
  read: number;
}

/** Margin of the incremental audit's checkpoint behind the ledger clock (see Ledger.auditIncremental). */
const AUDIT_CHECKPOINT_MARGIN_MS = 10 * 60_000;
/** Below every ledger time: "from the beginning" when there is no checkpoint yet. */
const BEFORE_ALL = '-9223372036854775808';

let savepoints = 0;
/**
 * Runs `moves` (ledger transfers or holds inside the caller's transaction) so that they either all happen or leave no
 * trace: true when done; false when one of them finds its debit side short (INSUFFICIENT_FUNDS), the earlier ones then
 * undone by a savepoint while the caller's transaction goes on. Any other error propagates. Payouts, convert and
 * profit sharing all turn a shortfall into an outcome (unfunded, FAIL) rather than an aborted request, and share this.
 */
export async function ifFundsSuffice(q: Queryable, moves: () => Promise<unknown>): Promise<boolean> {
  const sp = `funds_${++savepoints}`;
  await q.query(`SAVEPOINT ${sp}`);
  try {
    await moves();
    await q.query(`RELEASE SAVEPOINT ${sp}`);
    return true;
  } catch (e) {
    if (!(e instanceof DomainError && e.code === 'INSUFFICIENT_FUNDS')) throw e;
    await q.query(`ROLLBACK TO SAVEPOINT ${sp}`);
    await q.query(`RELEASE SAVEPOINT ${sp}`);
    return false;
  }
}

export function createLedger(deps: { db: Db; clock: Clock }): Ledger {
  const { db, clock } = deps;

  async function ensureAccounts(q: Queryable, refs: AccountRef[]) {
    const values: unknown[] = [];
    const rows = refs.map((a, i) => {
      values.push(accountId(a), a.ownerType, a.ownerId, a.asset, mayGoNegative(a), clock.now());
      const b = i * 6;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6})`;
    });
    await q.query(
      `INSERT INTO ledger_accounts (id, owner_type, owner_id, asset, may_go_negative, created_at)
        VALUES ${rows.join(', ')}
       ON CONFLICT (id) DO NOTHING`,
      values,
    );
  }

  function check(t: TransferInput) {
    if (!isDecimalString(t.amount) || !new Decimal(t.amount).gt(0))
      throw new DomainError('INVALID_AMOUNT', `invalid amount ${t.amount}`);
    if (t.debit.asset !== t.credit.asset) throw new DomainError('INVALID_AMOUNT', 'transfer between different assets');
  }

  /** Inserts the transfer row; returns false when the id exists with identical content (an idempotent replay). */
  async function insertTransfer(q: Queryable, t: TransferInput, status: 'POSTED' | 'PENDING'): Promise<boolean> {
    const debit = accountId(t.debit);
    const credit = accountId(t.credit);
    const inserted = await q.query(
      `INSERT INTO ledger_transfers (id, debit_account, credit_account, asset, amount, status, kind, ref, created_at,
        resolved_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING RETURNING id`,
      [
        t.id,
        debit,
        credit,
        t.debit.asset,
        t.amount,
        status,
        t.kind,
        t.ref ?? null,
        clock.now(),
        status === 'POSTED' ? clock.now() : null,
      ],
    );
    if (inserted.rowCount === 1) return true;
    const existing = (
      await q.query(`SELECT debit_account, credit_account, amount FROM ledger_transfers WHERE id = $1`, [t.id])
    ).rows[0];
    if (
      existing &&
      existing.debit_account === debit &&
      existing.credit_account === credit &&
      new Decimal(existing.amount).eq(t.amount)
    )
      return false;
    throw new DomainError('TRANSFER_ID_CONFLICT', `transfer ${t.id} exists with different content`);
  }

  /** Applies balance changes in account-id order so concurrent transfers cannot deadlock. */
  async function applyDeltas(
    q: Queryable,
    deltas: { id: string; posted: string; held: string; requireAvailable?: string }[],
  ) {
    deltas.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const d of deltas) {
      const r = await q.query(
        `UPDATE ledger_accounts SET posted = posted + $2::numeric, held = held + $3::numeric
         WHERE id = $1 AND ($4::numeric IS NULL OR may_go_negative OR posted - held >= $4::numeric)`,
        [d.id, d.posted, d.held, d.requireAvailable ?? null],
      );
      if (r.rowCount !== 1) throw new DomainError('INSUFFICIENT_FUNDS', `insufficient funds in ${d.id}`);
    }
  }

  const neg = (a: string) => new Decimal(a).neg().toFixed();

  const toPosted = (r: DbRow): PostedTransfer => ({
    id: r.id,
    debitAccount: r.debit_account,
    creditAccount: r.credit_account,
    asset: r.asset,
    amount: new Decimal(r.amount).toFixed(),
    kind: r.kind,
    ref: r.ref,
    createdAt: Number(r.created_at),
    resolvedAt: Number(r.resolved_at),
  });

  const toRecord = (r: DbRow): TransferRecord => ({
    id: r.id,
    debitAccount: r.debit_account,
    creditAccount: r.credit_account,
    asset: r.asset,
    amount: new Decimal(r.amount).toFixed(),
    status: r.status,
    kind: r.kind,
    ref: r.ref,
    createdAt: Number(r.created_at),
    resolvedAt: r.resolved_at === null ? null : Number(r.resolved_at),
  });

  /**
   * The audit's checks on the accounts alone (O(accounts)): no customer account below zero, every asset balancing; and
   * the transfers found moving between assets, reported in the audit's order. Both audits share them.
   */
  async function accountChecks(q: Queryable, problems: string[], assetMismatch: { id: string }[]) {
    const negative = await q.query<{ id: string; posted: string; held: string }>(
      `SELECT id, posted, held FROM ledger_accounts WHERE NOT may_go_negative AND posted - held < 0`,
    );
    for (const r of negative.rows)
      problems.push(`customer account ${r.id} below zero: posted ${r.posted}, held ${r.held}`);
    for (const r of assetMismatch) problems.push(`transfer ${r.id} moves between different assets`);
    const unbalanced = await q.query<{ asset: string; total: string }>(
      `SELECT asset, sum(posted) AS total FROM ledger_accounts GROUP BY asset HAVING sum(posted) <> 0`,
    );
    for (const r of unbalanced.rows) problems.push(`asset ${r.asset} does not balance: accounts sum to ${r.total}`);
    const convertHouse = (
      await q.query<{ asset: string; posted: string }>(
        `SELECT asset, posted FROM ledger_accounts WHERE owner_type = 'platform' AND owner_id = 'convert-house'
          ORDER BY asset`,
      )
    ).rows.map((r) => ({ asset: r.asset, net: new Decimal(r.posted).toFixed() }));
    return { convertHouse };
  }

  return {
    async transfer(q, t) {
      check(t);
      await ensureAccounts(q, [t.debit, t.credit]);
      if (!(await insertTransfer(q, t, 'POSTED'))) return { duplicate: true };
      await applyDeltas(q, [
        { id: accountId(t.debit), posted: neg(t.amount), held: '0', requireAvailable: t.amount },
        { id: accountId(t.credit), posted: t.amount, held: '0' },
      ]);
      return { duplicate: false };
    },

    async hold(q, t) {
      check(t);
      await ensureAccounts(q, [t.debit, t.credit]);
      if (!(await insertTransfer(q, t, 'PENDING'))) return { duplicate: true };
      await applyDeltas(q, [{ id: accountId(t.debit), posted: '0', held: t.amount, requireAvailable: t.amount }]);
      return { duplicate: false };
    },

    async postHold(q, id) {
      const r = await q.query<{ debit_account: string; credit_account: string; amount: string }>(
        `UPDATE ledger_transfers SET status = 'POSTED', resolved_at = $2 WHERE id = $1 AND status = 'PENDING'
         RETURNING debit_account, credit_account, amount`,
        [id, clock.now()],
      );
      const t = r.rows[0];
      if (!t) throw new DomainError('TRANSFER_NOT_PENDING', `hold ${id} is not pending`);
      await applyDeltas(q, [
        { id: t.debit_account, posted: neg(t.amount), held: neg(t.amount) },
        { id: t.credit_account, posted: t.amount, held: '0' },
      ]);
    },

    async voidHold(q, id) {
      const r = await q.query<{ debit_account: string; amount: string }>(
        `UPDATE ledger_transfers SET status = 'VOIDED', resolved_at = $2 WHERE id = $1 AND status = 'PENDING'
         RETURNING debit_account, amount`,
        [id, clock.now()],
      );
      const t = r.rows[0];
      if (!t) throw new DomainError('TRANSFER_NOT_PENDING', `hold ${id} is not pending`);
      await applyDeltas(q, [{ id: t.debit_account, posted: '0', held: neg(t.amount) }]);
    },

    async balance(q, a) {
      const row = (
        await q.query<{ posted: string; held: string }>(`SELECT posted, held FROM ledger_accounts WHERE id = $1`, [
          accountId(a),
        ])
      ).rows[0];
      const posted = new Decimal(row?.posted ?? 0);
      const held = new Decimal(row?.held ?? 0);
      return {
        asset: a.asset,
        posted: posted.toFixed(),
        held: held.toFixed(),
        available: posted.minus(held).toFixed(),
      };
    },

    async customerTotal(q, asset) {
      const r = (
        await q.query<{ posted: string | null; held: string | null }>(
          `SELECT sum(posted) AS posted, sum(held) AS held FROM ledger_accounts
            WHERE asset = $1 AND owner_type <> 'platform'`,
          [asset],
        )
      ).rows[0];
      const posted = new Decimal(r?.posted ?? 0);
      const held = new Decimal(r?.held ?? 0);
      return { asset, posted: posted.toFixed(), held: held.toFixed(), available: posted.minus(held).toFixed() };
    },

    async balances(q, ownerType, ownerId) {
      const rows = (
        await q.query<{ asset: string; posted: string; held: string }>(
          `SELECT asset, posted, held FROM ledger_accounts WHERE owner_type = $1 AND owner_id = $2 ORDER BY asset`,
          [ownerType, ownerId],
        )
      ).rows;
      return rows.map((r) => ({
        asset: r.asset,
        posted: new Decimal(r.posted).toFixed(),
        held: new Decimal(r.held).toFixed(),
        available: new Decimal(r.posted).minus(r.held).toFixed(),
      }));
    },

    async statement(q, a, from, to) {
      const id = accountId(a);
      // The posted balance now minus what was posted since `from`, in one statement (one snapshot): the work grows
      // with the account's activity since `from`, not with its whole history (issue 20, growth).
      const opening = (
        await q.query<{ total: string | null }>(
          `SELECT COALESCE((SELECT posted FROM ledger_accounts WHERE id = $1), 0)
             - COALESCE((SELECT sum(amount) FROM ledger_transfers WHERE credit_account = $1 AND status = 'POSTED'
                 AND resolved_at >= $2), 0)
             + COALESCE((SELECT sum(amount) FROM ledger_transfers WHERE debit_account = $1 AND status = 'POSTED'
                 AND resolved_at >= $2), 0) AS total`,
          [id, from],
        )
      ).rows[0];
      const rows = (
        await q.query(
          `SELECT * FROM ledger_transfers WHERE (credit_account = $1 OR debit_account = $1) AND status = 'POSTED'
            AND resolved_at >= $2 AND resolved_at < $3
         ORDER BY resolved_at, created_at, id`,
          [id, from, to],
        )
      ).rows;
      return { opening: new Decimal(opening?.total ?? 0).toFixed(), transfers: rows.map(toPosted) };
    },

    async postedByRef(q, kind, refs) {
      if (refs.length === 0) return [];
      const rows = (
        await q.query(
          `SELECT * FROM ledger_transfers WHERE kind = $1 AND ref = ANY($2::text[]) AND status = 'POSTED'
            ORDER BY resolved_at, id`,
          [kind, refs],
        )
      ).rows;
      return rows.map(toPosted);
    },

    async accounts(q, f) {
      const rows = (
        await q.query(
          `SELECT id, owner_type, owner_id, asset, posted, held FROM ledger_accounts
            WHERE ($1::text IS NULL OR owner_type = $1) AND ($2::text IS NULL OR owner_id = $2)
              AND ($3::text IS NULL OR asset = $3) AND (NOT $4::boolean OR posted <> 0 OR held <> 0)
              AND ($5::text IS NULL OR id > $5)
            ORDER BY id LIMIT $6`,
          [
            f.ownerType ?? null,
            f.ownerId ?? null,
            f.asset ?? null,
            f.nonZero ?? false,
            f.after ?? null,
            Math.min(Math.max(f.limit ?? 100, 1), 500),
          ],
        )
      ).rows;
      return rows.map((r) => ({
        id: r.id,
        ownerType: r.owner_type,
        ownerId: r.owner_id,
        asset: r.asset,
        posted: new Decimal(r.posted).toFixed(),
        held: new Decimal(r.held).toFixed(),
        available: new Decimal(r.posted).minus(r.held).toFixed(),
      }));
    },

    async browse(q, f) {
      const cursor = f.before ? /^(\d{1,16}):(.+)$/.exec(f.before) : null;
      const rows = (
        await q.query(
          `SELECT * FROM ledger_transfers
            WHERE ($1::text IS NULL OR debit_account = $1 OR credit_account = $1) AND ($2::text IS NULL OR kind = $2)
              AND ($3::text IS NULL OR ref = $3) AND ($4::text IS NULL OR status = $4)
              AND ($5::text IS NULL OR asset = $5)
              AND ($6::bigint IS NULL OR (created_at, id) < ($6::bigint, $7::text))
            ORDER BY created_at DESC, id DESC LIMIT $8`,
          [
            f.account ?? null,
            f.kind ?? null,
            f.ref ?? null,
            f.status ?? null,
            f.asset ?? null,
            cursor ? cursor[1] : null,
            cursor ? cursor[2] : null,
            Math.min(Math.max(f.limit ?? 50, 1), 200),
          ],
        )
      ).rows;
      return rows.map(toRecord);
    },

    async transfers(q, f) {
      if (!f.ids?.length && !f.refs?.length && !f.kinds?.length) return [];
      const rows = (
        await q.query(
          `SELECT * FROM ledger_transfers WHERE id = ANY($1::text[]) OR ref = ANY($2::text[]) OR kind = ANY($3::text[])
            ORDER BY created_at, id`,
          [f.ids ?? [], f.refs ?? [], f.kinds ?? []],
        )
      ).rows;
      return rows.map(toRecord);
    },

    async audit() {
      const problems: string[] = [];
      const q = db;
      const counts = onlyRow(
        await q.query<{ t: bigint; a: bigint }>(
          `SELECT (SELECT count(*) FROM ledger_transfers) AS t, (SELECT count(*) FROM ledger_accounts) AS a`,
        ),
      );
      const mismatched = await q.query<{
        id: string;
        posted: string;
        held: string;
        sum_posted: string;
        sum_held: string;
      }>(
        `WITH sums AS (
           SELECT a.id,
             COALESCE((SELECT sum(amount) FROM ledger_transfers t WHERE t.credit_account = a.id
             AND t.status = 'POSTED'), 0)
           - COALESCE((SELECT sum(amount) FROM ledger_transfers t WHERE t.debit_account = a.id
           AND t.status = 'POSTED'), 0) AS sum_posted,
             COALESCE((SELECT sum(amount) FROM ledger_transfers t WHERE t.debit_account = a.id
             AND t.status = 'PENDING'), 0) AS sum_held
           FROM ledger_accounts a)
         SELECT a.id, a.posted, a.held, s.sum_posted, s.sum_held FROM ledger_accounts a JOIN sums s ON s.id = a.id
         WHERE a.posted <> s.sum_posted OR a.held <> s.sum_held`,
      );
      for (const r of mismatched.rows) {
        problems.push(
          `account ${r.id}: stored posted ${r.posted} held ${r.held}, postings give ${r.sum_posted} / ${r.sum_held}`,
        );
      }
      const assetMismatch = await q.query<{ id: string }>(
        `SELECT t.id FROM ledger_transfers t JOIN ledger_accounts d ON d.id = t.debit_account JOIN ledger_accounts c
          ON c.id = t.credit_account
         WHERE d.asset <> t.asset OR c.asset <> t.asset`,
      );
      const { convertHouse } = await accountChecks(q, problems, assetMismatch.rows);
      return {
        ok: problems.length === 0,
        transactions: Number(counts.t),
        accounts: Number(counts.a),
        problems,
        convertHouse,
      };
    },

    async auditIncremental(opts = {}) {
      const margin = opts.marginMs ?? AUDIT_CHECKPOINT_MARGIN_MS;
      return db.tx(async (q) => {
        // One snapshot: the checkpoint, the accounts and the transfers since agree.
        await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
        const cp = (
          await q.query<{ id: string; upto: string; transfers: string }>(
            `SELECT id, upto, transfers FROM ledger_audit_checkpoints ORDER BY id DESC LIMIT 1`,
          )
        ).rows[0];
        const since = cp ? cp.upto : BEFORE_ALL;
        const cpId = cp ? cp.id : null;
        const problems: string[] = [];
        const mismatched = await q.query<{
          id: string;
          posted: string;
          held: string;
          sum_posted: string;
          sum_held: string;
        }>(
          `WITH delta AS (
             SELECT account, sum(x) AS x FROM (
               SELECT credit_account AS account, amount AS x FROM ledger_transfers
                WHERE status = 'POSTED' AND resolved_at >= $1
               UNION ALL
               SELECT debit_account, -amount FROM ledger_transfers WHERE status = 'POSTED' AND resolved_at >= $1) u
             GROUP BY account),
           pending AS (
             SELECT debit_account AS account, sum(amount) AS h FROM ledger_transfers WHERE status = 'PENDING'
              GROUP BY debit_account),
           sums AS (
             SELECT a.id, COALESCE(c.posted, 0) + COALESCE(d.x, 0) AS sum_posted, COALESCE(p.h, 0) AS sum_held
               FROM ledger_accounts a
               LEFT JOIN ledger_audit_checkpoint_sums c ON c.checkpoint_id = $2 AND c.account_id = a.id
               LEFT JOIN delta d ON d.account = a.id
               LEFT JOIN pending p ON p.account = a.id)
           SELECT a.id, a.posted, a.held, s.sum_posted, s.sum_held FROM ledger_accounts a JOIN sums s ON s.id = a.id
           WHERE a.posted <> s.sum_posted OR a.held <> s.sum_held
           ORDER BY a.id`,
          [since, cpId],
        );
        for (const r of mismatched.rows) {
          problems.push(
            `account ${r.id}: stored posted ${r.posted} held ${r.held}, postings give ${r.sum_posted} / ${r.sum_held}`,
          );
        }
        // Transfers resolved since the checkpoint or still pending (resolved_at null); older ones were checked.
        const fresh = `(t.resolved_at >= $1 OR t.resolved_at IS NULL)`;
        const assetMismatch = await q.query<{ id: string }>(
          `SELECT t.id FROM ledger_transfers t JOIN ledger_accounts d ON d.id = t.debit_account JOIN ledger_accounts c
            ON c.id = t.credit_account
           WHERE ${fresh} AND (d.asset <> t.asset OR c.asset <> t.asset)`,
          [since],
        );
        const { convertHouse } = await accountChecks(q, problems, assetMismatch.rows);
        const counts = onlyRow(
          await q.query<{ read: string; a: string }>(
            `SELECT (SELECT count(*) FROM ledger_transfers t WHERE ${fresh}) AS read,
               (SELECT count(*) FROM ledger_accounts) AS a`,
            [since],
          ),
        );
        const before = cp ? Number(cp.transfers) : 0;
        const report = {
          ok: problems.length === 0,
          transactions: before + Number(counts.read),
          accounts: Number(counts.a),
          problems,
          convertHouse,
          from: cp ? { id: Number(cp.id), upto: Number(cp.upto) } : null,
          read: Number(counts.read),
        };
        const upto = clock.now() - margin;
        if (!report.ok || (cp && upto <= Number(cp.upto))) return { ...report, wrote: null };
        // A clean audit: the next one starts at `upto`. A concurrent audit writing the same id wins; this one then
        // writes nothing.
        const id = (cp ? Number(cp.id) : 0) + 1;
        const inserted = await q.query(
          `INSERT INTO ledger_audit_checkpoints (id, upto, transfers, created_at)
           SELECT $1, $2, $3 + (SELECT count(*) FROM ledger_transfers WHERE resolved_at >= $4 AND resolved_at < $2), $5
           ON CONFLICT (id) DO NOTHING`,
          [id, upto, before, since, clock.now()],
        );
        if (inserted.rowCount !== 1) return { ...report, wrote: null };
        await q.query(
          `INSERT INTO ledger_audit_checkpoint_sums (checkpoint_id, account_id, posted)
           SELECT $1, account, sum(x) FROM (
             SELECT account_id AS account, posted AS x FROM ledger_audit_checkpoint_sums WHERE checkpoint_id = $2
             UNION ALL
             SELECT credit_account, amount FROM ledger_transfers
              WHERE status = 'POSTED' AND resolved_at >= $3 AND resolved_at < $4
             UNION ALL
             SELECT debit_account, -amount FROM ledger_transfers
              WHERE status = 'POSTED' AND resolved_at >= $3 AND resolved_at < $4) u
           GROUP BY account`,
          [id, cpId, since, upto],
        );
        await q.query(`DELETE FROM ledger_audit_checkpoints WHERE id < $1`, [id]);
        return { ...report, wrote: { id, upto } };
      });
    },
  };
}
