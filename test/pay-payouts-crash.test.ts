import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { merchantAccount } from '../src/pay/wallets.ts';
import { openDatabase, openPglite, type Db } from '../src/platform/db/client.ts';
import { accountId, platformAccount } from '../src/platform/ledger/service.ts';
import { Decimal } from '../src/platform/money.ts';
import { DB_KINDS, freePort, payClient, PG_URL, v3Order, type PayClient } from './helpers.ts';
import { waitFor } from './support/webhook-receiver.ts';

/**
 * Crash recovery of batch payouts (binance-pay-extended.md §10): the real server (`src/main.ts`) as a child process
 * on one database (a PGlite data directory, or a fresh PostgreSQL database), SIGKILLed at each stage of the
 * `pay-payouts` machine and restarted:
 *
 * 1. without workers: the merchant (funded by a paid order) creates a 300-detail batch (ids of verified payers,
 *    unknown and unverified ids, unfunded details, e-mails without an account); killed with the batch ACCEPTED;
 * 2. with workers: killed while the details are being processed (some but not all have left PROCESSING; on PGlite a
 *    timed kill, best effort, see below);
 * 3. with workers: once the dead worker's lease (30 s of wall time) has lapsed the batch is finalized; half the
 *    e-mail recipients sign up verified, killed as soon as a claim is seen;
 * 4. with workers: the remaining claims, then the business clock past 72 h; killed as soon as an expiry is seen;
 * 5. with workers: everything settles; the ledger audit, then a clean stop.
 *
 * Then, on the database: every detail in exactly one final state, each SUCCESS credited once (and its fee charged
 * once), each FAIL's hold released once, each REFUNDED refunded once, one PAYOUT webhook for the batch, one
 * PAYOUT_NON_BN per e-mail detail, one invitation per e-mail recipient.
 */
const ROOT = join(import.meta.dirname, '..');
const ADMIN_TOKEN = 'payout-crash-admin-token-0123456789';
const SECRETS_KEY = 'ab'.repeat(32);
const H72 = 72 * 3_600_000;
const FEE = '0.5';
const show = (v: unknown) => JSON.stringify(v);

type Detail = { merchantSendId: string; receiveType: string; receiver: string; transferAmount: string };

for (const kind of DB_KINDS) {
  describe(`batch payout across SIGKILLs (${kind})`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rampart-payout-crash-'));
    const dbName = `rampart_payout_crash_${randomBytes(5).toString('hex')}`;
    const dbUrl = (() => {
      if (kind !== 'pg') return undefined;
      const u = new URL(PG_URL);
      u.pathname = `/${dbName}`;
      return u.toString();
    })();
    const children: ChildProcess[] = [];
    after(async () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      if (kind === 'pg') {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await c.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    });

    let port = 0;
    function spawnServer(workers: boolean) {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        DATA_DIR: dataDir,
        PORT: String(port),
        ADMIN_TOKEN,
        SECRETS_KEY,
        LOG_LEVEL: 'silent',
        WORKERS: workers ? '1' : '0',
        RAMPART_MODE: 'sandbox',
      };
      delete env.PUBLIC_URL;
      if (dbUrl) env.DATABASE_URL = dbUrl;
      else delete env.DATABASE_URL; // the embedded PGlite in DATA_DIR
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      // The start-up banner is printed just before the workers start.
      const listening = new Promise<void>((r) =>
        child.stdout!.on('data', (c) => {
          if (String(c).includes('listening on')) r();
        }),
      );
      let stderr = '';
      child.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
      const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
        child.once('exit', (code, signal) => r({ code, signal })),
      );
      return { child, exited, listening, stderr: () => stderr };
    }

    async function start(workers: boolean) {
      const { child, exited, stderr } = spawnServer(workers);
      const baseUrl = `http://127.0.0.1:${port}`;
      await waitFor(
        'server up',
        async () => {
          if (child.exitCode !== null) throw new Error(`server exited: ${stderr()}`);
          return fetch(`${baseUrl}/healthz`).then(
            (r) => r.ok,
            () => false,
          );
        },
        60_000,
        5,
      );
      const admin = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(baseUrl + path, {
          method,
          headers: {
            authorization: `Bearer ${ADMIN_TOKEN}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
        });
        return { status: res.status, json: (await res.json()) as any };
      };
      const kill = async () => {
        child.kill('SIGKILL');
        const e = await exited;
        assert.equal(e.signal, 'SIGKILL', `exited on its own: ${show(e)} ${stderr()}`);
      };
      return { child, baseUrl, admin, kill, exited, stderr };
    }

    test(
      'SIGKILL after accept, mid-processing, mid-claim and mid-expiry: each detail settles exactly once',
      { timeout: 240_000 },
      async () => {
        if (kind === 'pg') {
          const c = new pg.Client({ connectionString: PG_URL });
          await c.connect();
          await c.query(`CREATE DATABASE ${dbName}`);
          await c.end();
        }
        port = await freePort();

        // ---- 1. no workers: set up, accept the batch, kill ----
        let p = await start(false);
        const mr = await p.admin('POST', '/admin/v1/merchants', {
          name: 'Crash Payouts',
          webhookUrl: `http://127.0.0.1:${await freePort()}/hook`,
        });
        assert.equal(mr.status, 201, show(mr.json));
        const merchantId = String(mr.json.merchantId);
        const fee = await p.admin('PATCH', `/admin/v1/merchants/${merchantId}`, { payoutFee: { USDT: FEE } });
        assert.equal(fee.status, 200, show(fee.json));
        const clientAt = (base: string): PayClient => payClient(base, mr.json.apiKey, mr.json.apiSecret);
        let client = clientAt(p.baseUrl);

        const rich = await p.admin('POST', '/sandbox/v1/payers', {
          email: 'rich@payout-crash.test',
          balances: { USDT: '100000' },
        });
        assert.equal(rich.status, 201, show(rich.json));
        const order = await client.post('/v3/order', v3Order({ orderAmount: '2000' }));
        assert.equal(order.json?.status, 'SUCCESS', order.text);
        const paid = await p.admin('POST', `/sandbox/v1/orders/${order.json.data.prepayId}/pay`, {
          payerEmail: 'rich@payout-crash.test',
        });
        assert.equal(paid.status, 200, show(paid.json));

        const payees: string[] = [];
        for (let i = 0; i < 5; i++) {
          const r = await p.admin('POST', '/sandbox/v1/payers', { email: `payee${i}@payout-crash.test`, balances: {} });
          assert.equal(r.status, 201, show(r.json));
          payees.push(String(r.json.payerId));
        }
        const unverified = await p.admin('POST', '/sandbox/v1/payers', {
          email: 'unverified@payout-crash.test',
          balances: {},
          kycStatus: 'PENDING',
        });
        assert.equal(unverified.status, 201, show(unverified.json));

        // N details: every 9th an e-mail without an account, every 15th an unknown id, one unverified id, every 30th
        // more than the balance covers (unfunded), the rest to the five verified payees. Large enough that the
        // poll below sees the batch half done even on PGlite.
        const N = 300;
        const details: Detail[] = [];
        const emails: string[] = [];
        let failing = 0;
        for (let i = 0; i < N; i++) {
          const d: Detail & Record<string, string> = {
            merchantSendId: `cs${i}`,
            transferMethod: 'FUNDING_WALLET',
            receiveType: '',
            receiver: '',
            transferAmount: '',
          };
          d.transferAmount = new Decimal(1).plus(new Decimal(i % 7).mul('0.25')).toFixed();
          if (i % 30 === 29) {
            Object.assign(d, { receiveType: 'BINANCE_ID', receiver: payees[i % 5]!, transferAmount: '5000' });
            failing++;
          } else if (i % 9 === 4) {
            const email = `invitee${i}@payout-crash.test`;
            emails.push(email);
            Object.assign(d, { receiveType: 'EMAIL', receiver: email });
          } else if (i % 15 === 8 || i === 50) {
            const receiver = i === 50 ? String(unverified.json.payerId) : `1000149999${String(i).padStart(3, '0')}`;
            Object.assign(d, { receiveType: 'BINANCE_ID', receiver });
            failing++;
          } else Object.assign(d, { receiveType: 'BINANCE_ID', receiver: payees[i % 5]! });
          details.push(d);
        }
        const requestId = `crash${Date.now()}`;
        const created = await client.post('/payout/transfer', {
          requestId,
          batchName: 'Crash payouts',
          currency: 'USDT',
          totalAmount: details.reduce((s, d) => s.plus(d.transferAmount), new Decimal(0)).toFixed(),
          totalNumber: details.length,
          transferDetailList: details,
        });
        assert.equal(created.json?.status, 'SUCCESS', created.text);
        assert.equal(created.json.data.status, 'ACCEPTED');
        const query = async () => {
          const r = await client.post('/payout/query', { requestId });
          assert.equal(r.json?.status, 'SUCCESS', r.text);
          return r.json.data as {
            batchStatus: string;
            transferDetailList: { merchantSendId: string; status: string }[];
          };
        };
        const counts = (q: Awaited<ReturnType<typeof query>>) => {
          const c: Record<string, number> = {};
          for (const d of q.transferDetailList) c[d.status] = (c[d.status] ?? 0) + 1;
          return c;
        };
        const q1 = await query();
        assert.equal(q1.batchStatus, 'ACCEPTED');
        assert.deepEqual(counts(q1), { PROCESSING: details.length });
        await p.kill();

        // ---- 2. workers: kill in the middle of processing ----
        // On PostgreSQL the API answers while the worker runs: poll until some but not all details have moved. The
        // PGlite process is one connection that the worker keeps busy until the batch is done, so there the kill
        // comes a few milliseconds after the server is up, and the state it left is read from the data directory
        // (retried a little later if the worker had not begun yet).
        let midCounts: Record<string, number> = {};
        if (kind === 'pg') {
          p = await start(true);
          client = clientAt(p.baseUrl);
          const mid = await waitFor(
            'some details processed, not all',
            async () => {
              const q = await query();
              const left = counts(q).PROCESSING ?? 0;
              assert.ok(left > 0, `the batch was processed before the kill: ${show(counts(q))}`);
              return left <= details.length - 10 && q;
            },
            30_000,
            1,
          );
          await p.kill();
          midCounts = counts(mid);
        } else {
          // The kill is timed from the start-up banner (the workers start right after it), on a copy of the data
          // directory taken now: a kill before the worker began or after it finished is undone and retried
          // (bisection on the delay).
          const pgliteDir = join(dataDir, 'pglite');
          const saved = join(dataDir, 'pglite-accepted');
          cpSync(pgliteDir, saved, { recursive: true });
          let lo = -1;
          let hi = Infinity;
          for (let attempt = 0; ; attempt++) {
            const at = hi === Infinity ? lo * 2 + 2 : Math.round((lo + hi) / 2);
            rmSync(pgliteDir, { recursive: true, force: true });
            cpSync(saved, pgliteDir, { recursive: true });
            const s = spawnServer(true);
            void s.listening.then(() => setTimeout(() => s.child.kill('SIGKILL'), at));
            assert.equal((await s.exited).signal, 'SIGKILL', s.stderr());
            const db = await openPglite(pgliteDir);
            try {
              const rows = (await db.query(`SELECT status, count(*)::int AS n FROM pay_payout_details GROUP BY status`))
                .rows as { status: string; n: number }[];
              midCounts = Object.fromEntries(rows.map((r) => [r.status, r.n]));
            } finally {
              await db.close();
            }
            const left = midCounts.PROCESSING ?? 0;
            if (left > 0 && left < details.length) {
              console.log(`[${kind}] caught mid-batch ${at} ms after the listener, attempt ${attempt + 1}`);
              break;
            }
            // The batch takes little time: with jitter a timed kill may miss it. After some tries, go on from the
            // state the last kill left (the later stages still crash), and say so.
            if (attempt === 7) {
              console.log(`[${kind}] no kill landed mid-batch in 8 tries (last at ${at} ms); going on`);
              break;
            }
            if (left === details.length) lo = at;
            else hi = at;
          }
        }
        console.log(`[${kind}] killed mid-processing at ${show(midCounts)}`);

        // ---- 3. workers: the lease lapses, the batch finishes; half the invitees sign up; kill on a claim ----
        p = await start(true);
        client = clientAt(p.baseUrl);
        const done = await waitFor(
          'batch finalized after the lease lapsed',
          async () => {
            const q = await query();
            return !['ACCEPTED', 'PROCESSING'].includes(q.batchStatus) && q;
          },
          60_000,
          100,
        );
        assert.equal(done.batchStatus, 'PART_SUCCESS');
        const nS = details.length - emails.length - failing;
        const claimers = emails.slice(0, Math.ceil(emails.length / 2));
        const nC = claimers.length;
        assert.deepEqual(counts(done), { SUCCESS: nS, FAIL: failing, AWAITING_RECEIPT: emails.length });
        for (const email of claimers) {
          const r = await p.admin('POST', '/sandbox/v1/payers', { email, balances: {} });
          assert.equal(r.status, 201, show(r.json));
        }
        const claiming = await waitFor(
          'a claim',
          async () => {
            const q = await query();
            return (counts(q).AWAITING_RECEIPT ?? 0) < emails.length && q;
          },
          30_000,
          5,
        );
        await p.kill();
        console.log(`[${kind}] killed while claiming at ${show(counts(claiming))}`);

        // ---- 4. workers: the remaining claims, then 72 h later the expiries; kill on an expiry ----
        p = await start(true);
        client = clientAt(p.baseUrl);
        await waitFor(
          'claims done',
          async () => (counts(await query()).AWAITING_RECEIPT ?? 0) === emails.length - nC,
          30_000,
          50,
        );
        const adv = await p.admin('POST', '/sandbox/v1/clock/advance', { ms: H72 + 1000 });
        assert.equal(adv.status, 200, show(adv.json));
        const expiring = await waitFor(
          'an expiry',
          async () => {
            const q = await query();
            return (counts(q).REFUNDED ?? 0) > 0 && q;
          },
          30_000,
          5,
        );
        await p.kill();
        console.log(`[${kind}] killed while expiring at ${show(counts(expiring))}`);

        // ---- 5. workers: everything settles ----
        p = await start(true);
        client = clientAt(p.baseUrl);
        const final = await waitFor(
          'expiries done',
          async () => {
            const q = await query();
            return (counts(q).AWAITING_RECEIPT ?? 0) === 0 && q;
          },
          30_000,
          50,
        );
        assert.equal(final.batchStatus, 'PART_SUCCESS');
        assert.deepEqual(counts(final), { SUCCESS: nS + nC, FAIL: failing, REFUNDED: emails.length - nC });
        const audit = await p.admin('GET', '/admin/v1/ledger/audit');
        assert.equal(audit.status, 200);
        assert.ok(audit.json.ok, `ledger audit: ${show(audit.json)}`);
        p.child.kill('SIGTERM');
        assert.equal((await p.exited).code, 0, p.stderr());

        // ---- the database, each detail and its money ----
        const db: Db = await openDatabase(dbUrl ? { url: dbUrl } : { dataDir: join(dataDir, 'pglite') });
        try {
          await verify(db, { merchantId, details, emails, claimers, successes: nS + nC });
        } finally {
          await db.close();
        }
      },
    );
  });
}

async function verify(
  db: Db,
  x: { merchantId: string; details: Detail[]; emails: string[]; claimers: string[]; successes: number },
) {
  const batch = (
    await db.query(`SELECT batch_id, status FROM pay_payout_batches WHERE merchant_id = $1`, [x.merchantId])
  ).rows;
  assert.equal(batch.length, 1, 'one batch');
  const batchId = String(batch[0]!.batch_id);
  const rows = (
    await db.query(
      `SELECT order_id, seq, merchant_send_id, receive_type, receiver, amount, fee, fee_charged, status, payee_id
         FROM pay_payout_details WHERE batch_id = $1 ORDER BY seq`,
      [batchId],
    )
  ).rows as any[];
  assert.equal(rows.length, x.details.length, 'one row per detail');
  assert.equal(new Set(rows.map((r) => r.merchant_send_id)).size, x.details.length);

  const transfers = (
    await db.query(
      `SELECT id, debit_account, credit_account, amount, status, kind, ref FROM ledger_transfers
        WHERE kind LIKE 'pay.payout%'`,
    )
  ).rows as any[];
  const byRef = new Map<string, any[]>();
  for (const t of transfers) byRef.set(String(t.ref), [...(byRef.get(String(t.ref)) ?? []), t]);
  const source = accountId(merchantAccount(x.merchantId, 'FUNDING_WALLET', 'USDT'));
  const escrow = accountId(platformAccount('payout_escrow', 'USDT'));
  const credited = new Map<string, Decimal>();
  let feesCharged = new Decimal(0);
  let spent = new Decimal(0);

  for (const r of rows) {
    const orderId = String(r.order_id);
    const ts = byRef.get(orderId) ?? [];
    const ids = ts.map((t) => String(t.id).slice(`payout:${orderId}`.length) || 'hold').sort();
    const hold = ts.find((t) => t.id === `payout:${orderId}`);
    const amount = new Decimal(r.amount);
    const where = `detail ${r.merchant_send_id} (${r.status}): ${show(ts)}`;
    const unfunded = amount.eq(5000);
    if (r.status === 'SUCCESS') {
      assert.deepEqual(ids, [':fee', ':pay', 'hold'], where);
      assert.equal(hold.status, 'POSTED', where);
      const pay = ts.find((t) => t.id.endsWith(':pay'));
      assert.ok(new Decimal(pay.amount).eq(amount), where);
      assert.equal(pay.debit_account, escrow, where);
      const payee = String(pay.credit_account);
      assert.equal(payee, `payer:${r.payee_id}:USDT`, where);
      credited.set(payee, (credited.get(payee) ?? new Decimal(0)).plus(amount));
      assert.ok(new Decimal(ts.find((t) => t.id.endsWith(':fee')).amount).eq(FEE), where);
      assert.ok(new Decimal(r.fee_charged).eq(FEE), where);
      feesCharged = feesCharged.plus(FEE);
      spent = spent.plus(amount).plus(FEE);
    } else if (r.status === 'FAIL') {
      assert.ok(new Decimal(r.fee_charged).eq(0), where);
      if (unfunded) assert.deepEqual(ids, [], where);
      else {
        assert.deepEqual(ids, ['hold'], where);
        assert.equal(hold.status, 'VOIDED', `the hold is released: ${where}`);
      }
    } else {
      assert.equal(r.status, 'REFUNDED', where);
      assert.equal(r.receive_type, 'EMAIL', where);
      assert.deepEqual(ids, [':refund', 'hold'], where);
      assert.equal(hold.status, 'POSTED', where);
      const refund = ts.find((t) => t.id.endsWith(':refund'));
      assert.equal(refund.credit_account, source, where);
      assert.ok(new Decimal(refund.amount).eq(amount.plus(FEE)), where);
      assert.ok(new Decimal(r.fee_charged).eq(0), where);
    }
    if (unfunded) assert.equal(r.status, 'FAIL', where);
  }
  assert.equal(transfers.filter((t) => !byRef.has(String(t.ref))).length, 0);

  // Balances: each payee holds exactly what its SUCCESS details sent it; nothing is left held or in escrow.
  const accounts = new Map(
    ((await db.query(`SELECT id, posted, held FROM ledger_accounts`)).rows as any[]).map((a) => [String(a.id), a]),
  );
  for (const [payee, sum] of credited)
    assert.ok(new Decimal(accounts.get(payee).posted).eq(sum), `${payee}: ${accounts.get(payee).posted} ≠ ${sum}`);
  assert.equal(credited.size, 5 + x.claimers.length, 'the five payees and the claimers were paid');
  assert.ok(new Decimal(accounts.get(escrow).posted).eq(0), 'escrow is empty');
  assert.ok(new Decimal(accounts.get(escrow).held).eq(0));
  assert.ok(new Decimal(accounts.get(source).held).eq(0), 'no hold is left on the source wallet');
  const out = transfers.filter((t) => t.debit_account === source && t.status === 'POSTED');
  const back = transfers.filter((t) => t.credit_account === source);
  const net = out
    .reduce((s, t) => s.plus(t.amount), new Decimal(0))
    .minus(back.reduce((s, t) => s.plus(t.amount), new Decimal(0)));
  assert.ok(net.eq(spent), `the source wallet paid ${net}, SUCCESS amounts + fees are ${spent}`);
  assert.ok(feesCharged.eq(new Decimal(FEE).mul(x.successes)));

  // Events: one PAYOUT for the batch, one PAYOUT_NON_BN per e-mail detail, one invitation per e-mail.
  const hooks = (
    await db.query(
      `SELECT payload->>'bizType' AS biz_type, payload->>'bizId' AS biz_id, payload->>'bizStatus' AS biz_status
         FROM outbox WHERE payload->>'bizType' IN ('PAYOUT', 'PAYOUT_NON_BN')`,
    )
  ).rows as any[];
  const payout = hooks.filter((h) => h.biz_type === 'PAYOUT');
  assert.deepEqual(
    payout.map((h) => [h.biz_id, h.biz_status]),
    [[batchId, 'PART_SUCCESS']],
    'one PAYOUT webhook for the batch',
  );
  const emailRows = rows.filter((r) => r.receive_type === 'EMAIL');
  assert.equal(emailRows.length, x.emails.length);
  const nonBn = hooks.filter((h) => h.biz_type === 'PAYOUT_NON_BN');
  assert.equal(nonBn.length, emailRows.length, `one PAYOUT_NON_BN per e-mail detail: ${show(nonBn)}`);
  for (const r of emailRows) {
    const h = nonBn.filter((n) => n.biz_id === String(r.order_id));
    assert.deepEqual(
      h.map((n) => n.biz_status),
      [r.status],
    );
    assert.equal(r.status, x.claimers.includes(r.receiver) ? 'SUCCESS' : 'REFUNDED');
  }
  const mails = (
    await db.query(`SELECT to_address, count(*)::int AS n FROM mail_messages WHERE subject LIKE '% sent you %'
                     GROUP BY to_address`)
  ).rows as any[];
  assert.deepEqual(
    Object.fromEntries(mails.map((m) => [m.to_address, m.n])),
    Object.fromEntries(x.emails.map((e) => [e, 1])),
    'one invitation per e-mail recipient',
  );
}
