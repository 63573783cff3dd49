import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DB_KINDS, openTestDb } from '../../../test/helpers.ts';
import { createManualClock } from '../clock.ts';
import type { Db } from '../db/client.ts';
import { DomainError, errorField } from '../errors.ts';
import { createLedger, platformAccount, type AccountRef, type Ledger } from './service.ts';

const mint = (asset = 'USDT') => platformAccount('sandbox_mint', asset);
const payer = (id: string, asset = 'USDT'): AccountRef => ({ ownerType: 'payer', ownerId: id, asset });
const merchant = (id: string, asset = 'USDT'): AccountRef => ({ ownerType: 'merchant', ownerId: id, asset });

for (const kind of DB_KINDS) {
  describe(`ledger (${kind})`, () => {
    let db: Db;
    let drop: () => Promise<void>;
    let ledger: Ledger;
    before(async () => {
      ({ db, drop } = await openTestDb(kind));
      ledger = createLedger({ db, clock: createManualClock() });
    });
    after(async () => {
      const audit = await ledger.audit();
      assert.deepEqual(audit.problems, []);
      await drop();
    });

    test('a transfer moves money between two accounts and balances per asset', async () => {
      await db.tx((q) =>
        ledger.transfer(q, { id: 'fund-a', debit: mint(), credit: payer('a'), amount: '100.5', kind: 'test' }),
      );
      assert.equal((await ledger.balance(db, payer('a'))).available, '100.5');
      assert.equal((await ledger.balance(db, mint())).posted, '-100.5');
      const audit = await ledger.audit();
      assert.equal(audit.ok, true);
      assert.equal(audit.transactions, 1);
    });

    test('transfers are idempotent by id; the same id with other content is refused', async () => {
      const t = { id: 'fund-b', debit: mint(), credit: payer('b'), amount: '10', kind: 'test' };
      assert.deepEqual(await db.tx((q) => ledger.transfer(q, t)), { duplicate: false });
      assert.deepEqual(await db.tx((q) => ledger.transfer(q, t)), { duplicate: true });
      assert.equal((await ledger.balance(db, payer('b'))).available, '10');
      await assert.rejects(
        db.tx((q) => ledger.transfer(q, { ...t, amount: '11' })),
        (e) => e instanceof DomainError && e.code === 'TRANSFER_ID_CONFLICT',
      );
    });

    test('a customer balance cannot go negative; the failed transfer rolls back entirely', async () => {
      await assert.rejects(
        db.tx((q) =>
          ledger.transfer(q, {
            id: 'over',
            debit: payer('b'),
            credit: merchant('m'),
            amount: '10.00000001',
            kind: 'test',
          }),
        ),
        (e) => errorField(e, 'code') === 'INSUFFICIENT_FUNDS',
      );
      assert.equal((await ledger.balance(db, payer('b'))).available, '10');
      assert.equal((await db.query(`SELECT count(*) AS n FROM ledger_transfers WHERE id = 'over'`)).rows[0].n, 0n);
    });

    test('invalid amounts are refused', async () => {
      for (const amount of ['0', '-1', '1e5', 'abc', '']) {
        await assert.rejects(
          db.tx((q) =>
            ledger.transfer(q, { id: `bad-${amount}`, debit: mint(), credit: payer('x'), amount, kind: 'test' }),
          ),
        );
      }
      await assert.rejects(
        db.tx((q) =>
          ledger.transfer(q, {
            id: 'mixed',
            debit: mint('BNB'),
            credit: payer('x', 'USDT'),
            amount: '1',
            kind: 'test',
          }),
        ),
      );
    });

    test('holds reserve funds; post moves them, void releases them', async () => {
      await db.tx((q) =>
        ledger.transfer(q, { id: 'fund-m', debit: mint(), credit: merchant('m'), amount: '50', kind: 'test' }),
      );
      await db.tx((q) =>
        ledger.hold(q, { id: 'h1', debit: merchant('m'), credit: payer('c'), amount: '30', kind: 'refund' }),
      );
      let m = await ledger.balance(db, merchant('m'));
      assert.deepEqual([m.posted, m.held, m.available], ['50', '30', '20']);
      // a second hold larger than what is available is refused
      await assert.rejects(
        db.tx((q) =>
          ledger.hold(q, { id: 'h2', debit: merchant('m'), credit: payer('c'), amount: '25', kind: 'refund' }),
        ),
        (e) => errorField(e, 'code') === 'INSUFFICIENT_FUNDS',
      );
      await db.tx((q) =>
        ledger.hold(q, { id: 'h3', debit: merchant('m'), credit: payer('c'), amount: '20', kind: 'refund' }),
      );
      await db.tx((q) => ledger.postHold(q, 'h1'));
      await db.tx((q) => ledger.voidHold(q, 'h3'));
      m = await ledger.balance(db, merchant('m'));
      assert.deepEqual([m.posted, m.held, m.available], ['20', '0', '20']);
      assert.equal((await ledger.balance(db, payer('c'))).available, '30');
      await assert.rejects(
        db.tx((q) => ledger.postHold(q, 'h1')),
        (e) => errorField(e, 'code') === 'TRANSFER_NOT_PENDING',
      );
      await assert.rejects(
        db.tx((q) => ledger.voidHold(q, 'h1')),
        (e) => errorField(e, 'code') === 'TRANSFER_NOT_PENDING',
      );
      assert.equal((await ledger.audit()).ok, true);
    });

    test('100 concurrent transfers against one account: exactly as many succeed as the balance allows', async () => {
      await db.tx((q) =>
        ledger.transfer(q, { id: 'fund-hot', debit: mint(), credit: payer('hot'), amount: '60', kind: 'test' }),
      );
      const results = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) =>
          db.tx((q) =>
            ledger.transfer(q, {
              id: `spend-${i}`,
              debit: payer('hot'),
              credit: merchant(`shop${i % 7}`),
              amount: '1',
              kind: 'test',
            }),
          ),
        ),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 60);
      assert.ok(
        results
          .filter((r) => r.status === 'rejected')
          .every((r) => r.status === 'rejected' && errorField(r.reason, 'code') === 'INSUFFICIENT_FUNDS'),
      );
      assert.equal((await ledger.balance(db, payer('hot'))).available, '0');
      const audit = await ledger.audit();
      assert.deepEqual(audit.problems, []);
    });

    test('the audit detects a stored balance that disagrees with its postings', async () => {
      await db.query(`UPDATE ledger_accounts SET posted = posted + 1 WHERE id = 'payer:a:USDT'`);
      const audit = await ledger.audit();
      assert.equal(audit.ok, false);
      assert.ok(audit.problems.some((p) => p.includes('payer:a:USDT')));
      await db.query(`UPDATE ledger_accounts SET posted = posted - 1 WHERE id = 'payer:a:USDT'`);
      assert.equal((await ledger.audit()).ok, true);
    });
  });
}
