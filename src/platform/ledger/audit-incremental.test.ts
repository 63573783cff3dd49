import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DB_KINDS, openTestDb } from '../../../test/helpers.ts';
import { createManualClock } from '../clock.ts';
import type { Db } from '../db/client.ts';
import { createLedger, platformAccount, type AccountRef, type Ledger } from './service.ts';

const mint = platformAccount('sandbox_mint', 'USDT');
const payer = (id: string): AccountRef => ({ ownerType: 'payer', ownerId: id, asset: 'USDT' });
const merchant = (id: string): AccountRef => ({ ownerType: 'merchant', ownerId: id, asset: 'USDT' });
const MINUTE = 60_000;

/**
 * The incremental ledger audit (issue 20, growth): the full audit's findings from the last clean checkpoint, reading
 * only the transfers resolved since it or still pending; a checkpoint is written only by a clean audit.
 */
for (const kind of DB_KINDS) {
  describe(`ledger incremental audit (${kind})`, () => {
    let db: Db;
    let drop: () => Promise<void>;
    let ledger: Ledger;
    const clock = createManualClock();
    const move = (id: string, debit: AccountRef, credit: AccountRef, amount: string) =>
      db.tx((q) => ledger.transfer(q, { id, debit, credit, amount, kind: 'test' }));

    before(async () => {
      ({ db, drop } = await openTestDb(kind));
      ledger = createLedger({ db, clock });
    });
    after(async () => {
      assert.deepEqual((await ledger.audit()).problems, []);
      await drop();
    });

    test('with no checkpoint it reads every transfer, agrees with the full audit and writes a checkpoint', async () => {
      await move('f1', mint, payer('a'), '100');
      await move('f2', mint, payer('b'), '50');
      await move('p1', payer('a'), merchant('m'), '30');
      clock.advance(20 * MINUTE);
      const r = await ledger.auditIncremental({ marginMs: 10 * MINUTE });
      const full = await ledger.audit();
      assert.equal(r.ok, true);
      assert.deepEqual(r.problems, []);
      assert.equal(r.from, null);
      assert.equal(r.read, 3);
      assert.equal(r.transactions, full.transactions);
      assert.equal(r.accounts, full.accounts);
      assert.deepEqual(r.wrote, { id: 1, upto: clock.now() - 10 * MINUTE });
    });

    test('from a checkpoint it reads only what was resolved since, and what is pending', async () => {
      await move('p2', payer('b'), merchant('m'), '20');
      await db.tx((q) =>
        ledger.hold(q, { id: 'h1', debit: payer('a'), credit: merchant('m'), amount: '5', kind: 'test' }),
      );
      clock.advance(20 * MINUTE);
      const r = await ledger.auditIncremental({ marginMs: 10 * MINUTE });
      assert.equal(r.ok, true);
      assert.deepEqual(r.from?.id, 1);
      assert.equal(r.read, 2); // p2 and the pending h1; f1, f2, p1 are in the checkpoint
      assert.equal(r.transactions, (await ledger.audit()).transactions);
      assert.equal(r.wrote?.id, 2);
      // The hold posted after the checkpoint: read again (resolved since), its amount now posted.
      await db.tx((q) => ledger.postHold(q, 'h1'));
      clock.advance(20 * MINUTE);
      const again = await ledger.auditIncremental({ marginMs: 10 * MINUTE });
      assert.equal(again.ok, true);
      assert.equal(again.read, 1);
      assert.equal(again.transactions, 5);
      // Only the latest checkpoint is kept.
      const kept = await db.query<{ id: string }>(`SELECT id FROM ledger_audit_checkpoints`);
      assert.deepEqual(
        kept.rows.map((x) => Number(x.id)),
        [3],
      );
    });

    test('a stored balance that disagrees with checkpoint + postings is found, with the full audit words', async () => {
      await move('p3', payer('a'), merchant('m'), '1');
      await db.query(`UPDATE ledger_accounts SET posted = posted + 7 WHERE id = 'merchant:m:USDT'`);
      await db.query(`UPDATE ledger_accounts SET posted = posted - 7 WHERE id = 'platform:sandbox_mint:USDT'`);
      try {
        clock.advance(20 * MINUTE);
        const r = await ledger.auditIncremental({ marginMs: 10 * MINUTE });
        const full = await ledger.audit();
        assert.equal(r.ok, false);
        assert.deepEqual(r.problems, full.problems);
        assert.equal(r.problems.length, 2);
        assert.match(r.problems[0]!, /^account merchant:m:USDT: stored posted 63\.0+ held 0\.0+, postings give 56/);
        assert.equal(r.wrote, null, 'no checkpoint from an audit that found problems');
        assert.equal((await ledger.auditIncremental({ marginMs: 10 * MINUTE })).from?.id, 3);
      } finally {
        await db.query(`UPDATE ledger_accounts SET posted = posted - 7 WHERE id = 'merchant:m:USDT'`);
        await db.query(`UPDATE ledger_accounts SET posted = posted + 7 WHERE id = 'platform:sandbox_mint:USDT'`);
      }
      assert.equal((await ledger.auditIncremental({ marginMs: 10 * MINUTE })).ok, true);
    });

    test('a transfer back-dated before the checkpoint after it was written shows up as a mismatch', async () => {
      // What the margin guards against: a posting resolved before the mark but committed after the audit read.
      const cp = await ledger.auditIncremental({ marginMs: 0 });
      assert.ok(cp.wrote);
      const now = clock.now();
      clock.setOffset(clock.offsetMs() - 5 * MINUTE); // back before the mark
      await move('late', payer('b'), merchant('m'), '2');
      clock.setOffset(clock.offsetMs() + 5 * MINUTE);
      assert.equal(clock.now(), now);
      const r = await ledger.auditIncremental({ marginMs: 0 });
      assert.equal(r.ok, false);
      assert.equal(r.problems.length, 2);
      // The full audit reads everything: clean. Starting afresh (no checkpoint) the incremental one is clean too.
      assert.equal((await ledger.audit()).ok, true);
      await db.query(`DELETE FROM ledger_audit_checkpoints`);
      assert.equal((await ledger.auditIncremental({ marginMs: 0 })).ok, true);
    });
  });
}
