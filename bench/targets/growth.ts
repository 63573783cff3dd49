import { freePort } from '../../test/helpers.ts';
import { safeEqual } from '../../src/platform/crypto.ts';
import type { Db } from '../../src/platform/db/client.ts';
import { createHttp } from '../../src/platform/http.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { signPay } from '../../src/pay/auth.ts';
import { envelope } from '../../src/pay/family.ts';
import type { Target } from '../lib/server.ts';
import { bootApp } from './app.ts';

/**
 * Growth (issue 20): the real app on PostgreSQL, whose tables a command bulk-loads in SQL to a given size. The orders
 * are laid out so that one merchant's day looks the same at every size: `merchants` merchants × `days` days × 100
 * orders a day (every other one PAID, with its payment and commission transfers in the ledger), the bench merchant
 * being merchant 0. Size 1 (10,000 orders): 10 merchants × 10 days. Size 2 adds 90 older days to those 10 merchants
 * and 990 merchants × 100 days: 10,000,000 orders, 5,000,000 paid, 10,000,000 ledger transfers.
 *
 * Besides the app's own port, a second server (the same createHttp stack) answers two signed routes that call what
 * the merchant dashboard's pages read: the order list (orders.listForMerchant, 200 newest, as GET /dashboard/orders)
 * and the daily report (reports.daily, as GET /dashboard/reports); the dashboard's HTML rendering is left out.
 */
export const GROWTH_LIST_PATH = '/binancepay/openapi/bench/growth/orders';
export const GROWTH_REPORT_PATH = '/binancepay/openapi/bench/growth/report';

const DAY_MS = 86_400_000;
const PER_DAY = 100;
const FILLER_MERCHANT_BASE = 800_000_000_000;
const PAYERS = 1000;
/** Order amount 25.17, commission 1 % rounded down to 8 places: 0.2517; the merchant is credited 24.9183. */
const NET = '24.9183';
const COMMISSION = '0.2517';

/** One block of orders: merchants [m0, m1] × days back [d0, d1] × 100 a day. */
interface Block {
  m0: number;
  m1: number;
  d0: number;
  d1: number;
}
const PHASES: Record<number, Block[]> = {
  1: [{ m0: 0, m1: 9, d0: 1, d1: 10 }],
  2: [
    { m0: 0, m1: 9, d0: 11, d1: 100 },
    ...Array.from({ length: 10 }, (_, i) => ({ m0: i === 0 ? 10 : i * 100, m1: i * 100 + 99, d0: 1, d1: 100 })),
  ],
};

export async function startGrowth(db: Db, port: number): Promise<Target> {
  const { app, server, baseUrl, merchant } = await bootApp(db, port);
  const benchMerchant = merchant.merchantId;
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const reportDate = new Date(today - DAY_MS).toISOString().slice(0, 10);
  const merchantIdSql = `(CASE WHEN m = 0 THEN ${BigInt(benchMerchant)} ELSE ${FILLER_MERCHANT_BASE} + m END)`;

  const side = await createHttp({ logger: createLogger('silent'), trustedProxies: [], publicUrl: baseUrl });
  const bad = envelope({ code: '400002', message: 'Signature for this request is not valid.' });
  const signed = (path: string, answer: () => Promise<unknown>) =>
    side.post(path, async (req, reply) => {
      const h = (n: string) => String(req.headers[n] ?? '');
      if (
        h('binancepay-certificate-sn') !== merchant.apiKey ||
        !safeEqual(
          signPay(merchant.apiSecret, h('binancepay-timestamp'), h('binancepay-nonce'), req.rawBody ?? Buffer.alloc(0)),
          h('binancepay-signature'),
        )
      )
        return reply.code(200).type('application/json').send(bad);
      return reply
        .code(200)
        .type('application/json')
        .send(envelope({ data: await answer() }));
    });
  signed(GROWTH_LIST_PATH, async () => {
    const list = await app.services.orders.listForMerchant(benchMerchant, { limit: 200 });
    return { count: list.length };
  });
  signed(GROWTH_REPORT_PATH, async () => {
    const r = await app.services.reports.daily(benchMerchant, reportDate);
    if (!r.ok) throw new Error(r.code);
    return { rows: r.value.assets.reduce((a, x) => a + x.transactions.length, 0) };
  });
  await side.ready();
  const sidePort = await freePort();
  await side.listen({ port: sidePort, host: '127.0.0.1' });

  async function ensureAccounts(m0: number, m1: number) {
    await db.query(
      `INSERT INTO merchants (id, name, created_at)
       SELECT ${FILLER_MERCHANT_BASE} + m, 'Growth merchant ' || m, $3 FROM generate_series($1::int, $2::int) m
        WHERE m > 0 ON CONFLICT (id) DO NOTHING`,
      [m0, m1, Date.now()],
    );
    await db.query(
      `INSERT INTO ledger_accounts (id, owner_type, owner_id, asset, may_go_negative, created_at)
       SELECT 'merchant:' || ${merchantIdSql} || ':USDT', 'merchant', ${merchantIdSql}::text, 'USDT', false, $3
         FROM generate_series($1::int, $2::int) m
       ON CONFLICT (id) DO NOTHING`,
      [m0, m1, Date.now()],
    );
  }

  /** One block of orders with the ledger transfers of the paid ones, in one statement. */
  async function loadBlock(b: Block) {
    await ensureAccounts(b.m0, b.m1);
    await db.tx(async (q) => {
      await q.query('SET LOCAL synchronous_commit = off');
      await q.query(
        `WITH o AS (
           INSERT INTO pay_orders (prepay_id, merchant_id, creator_merchant_id, merchant_trade_no, api_version, status,
             terminal_type, currency, order_amount, description, goods, product_type, product_name, return_url,
             checkout_token, create_time, expire_time, transact_time, transaction_id, commission)
           SELECT 7000000000000000 + m * 1000000 + d * 1000 + s, mid, mid, 'G' || m || '-' || d || '-' || s, 'v3',
             CASE s % 4 WHEN 1 THEN 'EXPIRED' WHEN 3 THEN 'CANCELED' ELSE 'PAID' END, 'WEB', 'USDT', 25.17,
             'Growth order', '[]', '01', 'Growth', 'https://shop.example/ok',
             'g' || (7000000000000000 + m * 1000000 + d * 1000 + s), t, t + 3600000,
             CASE WHEN s % 2 = 0 THEN t + 60000 END,
             CASE WHEN s % 2 = 0 THEN 'T' || (7000000000000000 + m * 1000000 + d * 1000 + s) END,
             CASE WHEN s % 2 = 0 THEN ${COMMISSION}::numeric END
           FROM generate_series($1::int, $2::int) m
             CROSS JOIN LATERAL (SELECT ${merchantIdSql} AS mid) x
             CROSS JOIN generate_series($3::int, $4::int) d
             CROSS JOIN generate_series(0, ${PER_DAY - 1}) s
             CROSS JOIN LATERAL (SELECT $5::bigint - d * ${DAY_MS}::bigint + s * ${DAY_MS / PER_DAY} + m * 10 AS t) y
           RETURNING prepay_id, merchant_id, transact_time)
         INSERT INTO ledger_transfers (id, debit_account, credit_account, asset, amount, status, kind, ref, created_at,
           resolved_at)
         SELECT 'pay:' || o.prepay_id || ':' || k.leg, 'payer:g' || (o.prepay_id % ${PAYERS}) || ':USDT',
           CASE k.leg WHEN 'merchant' THEN 'merchant:' || o.merchant_id || ':USDT' ELSE 'platform:revenue:USDT' END,
           'USDT', CASE k.leg WHEN 'merchant' THEN ${NET}::numeric ELSE ${COMMISSION}::numeric END, 'POSTED',
           'pay.' || CASE k.leg WHEN 'merchant' THEN 'payment' ELSE 'commission' END, o.prepay_id::text,
           o.transact_time, o.transact_time
         FROM o CROSS JOIN (VALUES ('merchant'), ('commission')) k (leg) WHERE o.transact_time IS NOT NULL`,
        [b.m0, b.m1, b.d0, b.d1, today],
      );
    });
  }

  const commands = {
    /** Bulk-loads one phase (1: to 10,000 orders; 2: to 10,000,000), sets the balances, VACUUM ANALYZE. */
    async load(arg: { phase: number }) {
      const t0 = performance.now();
      const blocks = PHASES[arg.phase];
      if (!blocks) throw new Error(`no phase ${arg.phase}`);
      if (arg.phase === 1) {
        // The payers and the platform's accounts, each payer funded once from the sandbox mint.
        await db.query(
          `INSERT INTO ledger_accounts (id, owner_type, owner_id, asset, may_go_negative, created_at)
           SELECT 'payer:g' || k || ':USDT', 'payer', 'g' || k, 'USDT', false, $1::bigint FROM generate_series(0, ${PAYERS - 1}) k
           UNION ALL SELECT 'platform:revenue:USDT', 'platform', 'revenue', 'USDT', false, $1
           UNION ALL SELECT 'platform:sandbox_mint:USDT', 'platform', 'sandbox_mint', 'USDT', true, $1
           ON CONFLICT (id) DO NOTHING`,
          [Date.now()],
        );
        const fundedAt = today - 200 * DAY_MS;
        await db.query(
          `INSERT INTO ledger_transfers (id, debit_account, credit_account, asset, amount, status, kind, ref, created_at,
             resolved_at)
           SELECT 'grow:fund:' || k, 'platform:sandbox_mint:USDT', 'payer:g' || k || ':USDT', 'USDT', 1000000000,
             'POSTED', 'sandbox.mint', NULL, $1, $1 FROM generate_series(0, ${PAYERS - 1}) k`,
          [fundedAt],
        );
      }
      // A back-filled history is resolved before any checkpoint's mark: start the incremental audit afresh.
      await db.query(`DELETE FROM ledger_audit_checkpoints`);
      const blockMs: number[] = [];
      for (const b of blocks) {
        const t = performance.now();
        await loadBlock(b);
        blockMs.push(Math.round(performance.now() - t));
        process.stderr.write(`growth: loaded block ${JSON.stringify(b)} in ${blockMs.at(-1)} ms\n`);
      }
      // Every account's stored balance from its postings, as the ledger would have kept it.
      const tb = performance.now();
      await db.query(
        `UPDATE ledger_accounts a SET posted = s.total FROM (
           SELECT account, sum(x) AS total FROM (
             SELECT credit_account AS account, amount AS x FROM ledger_transfers WHERE status = 'POSTED'
             UNION ALL SELECT debit_account, -amount FROM ledger_transfers WHERE status = 'POSTED') u
           GROUP BY account) s
         WHERE a.id = s.account AND a.posted <> s.total`,
      );
      const balancesMs = Math.round(performance.now() - tb);
      const tv = performance.now();
      await db.query('VACUUM ANALYZE');
      const vacuumMs = Math.round(performance.now() - tv);
      const counts = (
        await db.query<{ orders: string; transfers: string; bytes: string }>(
          `SELECT (SELECT count(*) FROM pay_orders) AS orders, (SELECT count(*) FROM ledger_transfers) AS transfers,
             pg_database_size(current_database()) AS bytes`,
        )
      ).rows[0]!;
      return {
        orders: Number(counts.orders),
        transfers: Number(counts.transfers),
        databaseBytes: Number(counts.bytes),
        blockMs,
        balancesMs,
        vacuumMs,
        totalMs: Math.round(performance.now() - t0),
      };
    },

    /** Up to `n` of the bench merchant's prepay ids, spread over its whole history. */
    async sample(arg: { n: number }) {
      const r = await db.query<{ prepay_id: string }>(
        `SELECT prepay_id FROM pay_orders WHERE merchant_id = $1 ORDER BY random() LIMIT $2`,
        [benchMerchant, arg.n],
      );
      return r.rows.map((x) => String(x.prepay_id));
    },

    /** EXPLAIN (ANALYZE, BUFFERS) of the statements each measured request runs. */
    async explain() {
      const prepayId = await commands.sample({ n: 1 });
      const from = Date.parse(reportDate);
      const account = `merchant:${benchMerchant}:USDT`;
      const plans: Record<string, [string, unknown[]]> = {
        'query-order': [
          `SELECT * FROM pay_orders WHERE prepay_id = $1 AND merchant_id = $2`,
          [prepayId[0], benchMerchant],
        ],
        'order-list': [
          `SELECT * FROM pay_orders WHERE merchant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL
            OR create_time >= $3) AND ($4::bigint IS NULL OR create_time < $4) ORDER BY create_time DESC LIMIT $5`,
          [benchMerchant, null, null, null, 200],
        ],
        'report-balances': [
          `SELECT asset, posted, held FROM ledger_accounts WHERE owner_type = $1 AND owner_id = $2 ORDER BY asset`,
          ['merchant', benchMerchant],
        ],
        'report-opening': [
          `SELECT COALESCE((SELECT posted FROM ledger_accounts WHERE id = $1), 0)
             - COALESCE((SELECT sum(amount) FROM ledger_transfers WHERE credit_account = $1 AND status = 'POSTED'
                 AND resolved_at >= $2), 0)
             + COALESCE((SELECT sum(amount) FROM ledger_transfers WHERE debit_account = $1 AND status = 'POSTED'
                 AND resolved_at >= $2), 0) AS total`,
          [account, from],
        ],
        'report-opening-old-query': [
          `SELECT sum(CASE WHEN credit_account = $1 THEN amount ELSE -amount END) AS total FROM ledger_transfers
            WHERE (credit_account = $1 OR debit_account = $1) AND status = 'POSTED' AND resolved_at < $2`,
          [account, from],
        ],
        'report-rows': [
          `SELECT * FROM ledger_transfers WHERE (credit_account = $1 OR debit_account = $1) AND status = 'POSTED'
            AND resolved_at >= $2 AND resolved_at < $3 ORDER BY resolved_at, created_at, id`,
          [account, from, from + DAY_MS],
        ],
        'report-commissions': [
          `SELECT * FROM ledger_transfers WHERE kind = $1 AND ref = ANY($2::text[]) AND status = 'POSTED'
            ORDER BY resolved_at, id`,
          ['pay.commission', prepayId],
        ],
      };
      const out: Record<string, string> = {};
      for (const [name, [sql, params]] of Object.entries(plans)) {
        const r = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
        out[name] = r.rows.map((x) => x['QUERY PLAN']).join('\n');
      }
      return out;
    },

    /**
     * The ledger audit timed: the full audit; the incremental one with no checkpoint (reads everything, writes one);
     * then, after 1,000 new payments through the ledger (to merchant 1), the incremental one from that checkpoint.
     */
    async audit() {
      const time = async <T>(f: () => Promise<T>) => {
        const t = performance.now();
        const r = await f();
        return { ms: Math.round(performance.now() - t), r };
      };
      const full = await time(() => app.services.ledger.audit());
      await db.query(`DELETE FROM ledger_audit_checkpoints`);
      const fromScratch = await time(() => app.services.ledger.auditIncremental({ marginMs: 0 }));
      for (let i = 0; i < 1000; i++) {
        await db.tx((q) =>
          app.services.ledger.transfer(q, {
            id: `grow:new:${Date.now()}:${i}`,
            debit: { ownerType: 'payer', ownerId: `g${i % PAYERS}`, asset: 'USDT' },
            // Another merchant's: the bench merchant's report must read the same rows at every size.
            credit: { ownerType: 'merchant', ownerId: String(FILLER_MERCHANT_BASE + 1), asset: 'USDT' },
            amount: NET,
            kind: 'pay.payment',
          }),
        );
      }
      const since = await time(() => app.services.ledger.auditIncremental({ marginMs: 0 }));
      const summary = (x: { ok: boolean; transactions: number; problems: string[] }) => ({
        ok: x.ok,
        transactions: x.transactions,
        problems: x.problems.slice(0, 3),
      });
      return {
        fullMs: full.ms,
        full: summary(full.r),
        incrementalFromScratchMs: fromScratch.ms,
        fromScratch: { ...summary(fromScratch.r), read: fromScratch.r.read },
        incrementalSinceCheckpointMs: since.ms,
        since: { ...summary(since.r), read: since.r.read },
      };
    },

    /** The five largest tables of the schema with their total size (table + indexes + TOAST) in bytes. */
    async sizes() {
      const r = await db.query<{ relname: string; bytes: string }>(
        `SELECT c.relname, pg_total_relation_size(c.oid) AS bytes FROM pg_class c
          WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
          ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 5`,
      );
      return Object.fromEntries(r.rows.map((x) => [x.relname, Number(x.bytes)]));
    },
  };

  return {
    info: {
      baseUrl,
      sideUrl: `http://127.0.0.1:${sidePort}`,
      apiKey: merchant.apiKey,
      apiSecret: merchant.apiSecret,
      merchantId: benchMerchant,
      reportDate,
    },
    commands,
    close: async () => {
      await side.close();
      await server.close();
      await app.stopWorkers();
    },
  };
}
