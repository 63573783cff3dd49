import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { strFromU8, unzipSync } from 'fflate';
import { DB_KINDS, openTestDb } from '../../../test/helpers.ts';
import { createAccountsService } from '../../accounts/service.ts';
import { createManualClock } from '../../platform/clock.ts';
import { createSecretBox } from '../../platform/crypto.ts';
import type { Db, Queryable } from '../../platform/db/client.ts';
import { createIdGenerator } from '../../platform/ids.ts';
import { createLedger } from '../../platform/ledger/service.ts';
import { createLogger } from '../../platform/logger.ts';
import { createOutbox } from '../../platform/outbox/service.ts';
import { statementSources } from '../reports/service.ts';
import { addMonths, COLUMNS, DAY_MS, type PayoutReportRow, type PayoutReportSource } from './files.ts';
import { createStatementService, movementType } from './service.ts';
import { column, csv, escapeXml, xlsx } from './xlsx.ts';

/** The statements service with an injected payout source (T_Payout), and the small pure parts. */
for (const kind of DB_KINDS) {
  describe(`report statements (${kind})`, () => {
    let db: Db;
    let drop: () => Promise<void>;
    let merchantId: string;
    const day = Date.UTC(2026, 2, 10);
    const clock = createManualClock(day + 3 * DAY_MS + 3_600_000);
    const ids = createIdGenerator();
    const calls: [string, number, number][] = [];
    const payoutRow = (createTime: number, n: number): PayoutReportRow => ({
      createTime,
      requestId: `req-${n}`,
      batchName: 'March, "bonus"',
      bizScene: 'SETTLEMENT',
      subMerchantId: n === 1 ? '2107268400000001' : null,
      orderId: `91500324399859712${n}`,
      merchantSendId: `send-${n}`,
      receiveType: 'EMAIL',
      receiver: `r${n}@example.com`,
      payeeId: n === 1 ? '1000000000123' : null,
      transferMethod: 'FUNDING_WALLET',
      currency: 'USDT',
      amount: '12.5',
      fee: '0',
      status: n === 1 ? 'SUCCESS' : 'AWAITING_RECEIPT',
      remark: n === 1 ? 'a <b> & c' : null,
      finishTime: n === 1 ? createTime + 5_000 : null,
    });
    const rows = [payoutRow(day - 2 * DAY_MS + 1_000, 0), payoutRow(day + 7_200_000, 1), payoutRow(day + 7_300_000, 2)];
    const payouts: PayoutReportSource = {
      async reportRows(_q: Queryable, m: string, from: number, to: number) {
        calls.push([m, from, to]);
        return rows.filter((r) => m === merchantId && r.createTime >= from && r.createTime < to);
      },
    };
    let service: ReturnType<typeof createStatementService>;

    before(async () => {
      ({ db, drop } = await openTestDb(kind));
      const accounts = createAccountsService({ db, clock, box: createSecretBox(randomBytes(32).toString('hex')) });
      merchantId = String(
        (
          await db.query(`INSERT INTO merchants (name, created_at) VALUES ($1, $2) RETURNING id`, [
            'Statements',
            clock.now(),
          ])
        ).rows[0].id,
      );
      service = createStatementService({
        db,
        clock,
        ids,
        ledger: createLedger({ db, clock }),
        outbox: createOutbox({ clock, ids }),
        accounts,
        logger: createLogger('silent'),
        publicUrl: 'https://pay.example.com',
        orders: statementSources,
        payouts,
      });
    });
    after(() => drop());

    test('T_Payout: the injected source gives the days (newest first) and the rows of each file', async () => {
      const actor = { merchantId, creatorMerchantId: merchantId };
      const r = await service.files(actor, {
        reportType: 'Transaction',
        transactionType: 'Payout',
        startDate: '01/03/2026',
        endDate: '31/03/2026',
      });
      assert.ok(r.ok);
      // Days after yesterday are not asked for: the range stops at today's start.
      assert.deepEqual(calls.at(-1), [merchantId, Date.UTC(2026, 2, 1), day + 3 * DAY_MS]);
      assert.deepEqual(
        r.value.map((f) => [f.reportType, f.transactionType, f.transactionDate, f.fileName]),
        [
          ['Transaction', 'Payout', '10/03/2026', 'T_Payout_10032026.xlsx'],
          ['Transaction', 'Payout', '08/03/2026', 'T_Payout_08032026.xlsx'],
        ],
      );
      const [token, name] = /files\/([0-9a-f]{32})\/(.+)$/.exec(r.value[0]!.downloadUrl)!.slice(1) as [string, string];
      const file = await service.download(token, name, 'csv');
      assert.ok(file);
      assert.equal(file.fileName, 'T_Payout_10032026.csv');
      assert.equal(
        file.body,
        [
          COLUMNS.T_Payout.join(','),
          '2026-03-10 02:00:00,req-1,"March, ""bonus""",SETTLEMENT,2107268400000001,915003243998597121,send-1,EMAIL,' +
            'r1@example.com,1000000000123,FUNDING_WALLET,USDT,12.50000000,0.00000000,SUCCESS,' +
            'a <b> & c,2026-03-10 02:00:05',
          '2026-03-10 02:01:40,req-2,"March, ""bonus""",SETTLEMENT,,915003243998597122,send-2,EMAIL,r2@example.com,,' +
            'FUNDING_WALLET,USDT,12.50000000,0.00000000,AWAITING_RECEIPT,,',
          '',
        ].join('\r\n'),
      );
      const x = await service.download(token, name, 'xlsx');
      const sheet = strFromU8(unzipSync(x!.body as Uint8Array)['xl/worksheets/sheet1.xml']!);
      assert.match(sheet, /<c r="P2" t="inlineStr"><is><t xml:space="preserve">a &lt;b&gt; &amp; c<\/t><\/is><\/c>/);
      assert.match(sheet, /<c r="Q3" t="inlineStr"><is><t xml:space="preserve"><\/t><\/is><\/c><\/row><\/sheetData>/);
    });

    test('a link of one merchant is bound to its file name and lapses after an hour of business time', async () => {
      const r = await service.files(
        { merchantId, creatorMerchantId: merchantId },
        { reportType: 'Transaction', transactionType: 'Payout', startDate: '08/03/2026', endDate: '08/03/2026' },
      );
      assert.ok(r.ok);
      const [token, name] = /files\/([0-9a-f]{32})\/(.+)$/.exec(r.value[0]!.downloadUrl)!.slice(1) as [string, string];
      assert.equal(await service.download(token, 'T_Payout_10032026.xlsx', 'xlsx'), null);
      assert.ok(await service.download(token, name, 'xlsx'));
      clock.advance(3_600_000);
      assert.equal(await service.download(token, name, 'xlsx'), null);
    });

    test('a balance report whose generation keeps failing is FAILED after 3 attempts, without a webhook', async () => {
      const ledger = createLedger({ db, clock });
      const broken = createStatementService({
        db,
        clock,
        ids,
        ledger: {
          ...ledger,
          balances: async () => {
            throw new Error('ledger unavailable');
          },
        },
        outbox: createOutbox({ clock, ids }),
        accounts: createAccountsService({ db, clock, box: createSecretBox(randomBytes(32).toString('hex')) }),
        logger: createLogger('silent'),
        publicUrl: 'https://pay.example.com',
        orders: statementSources,
        payouts,
      });
      const r = await broken.requestBalance(
        { merchantId, creatorMerchantId: merchantId },
        { walletType: null, startDate: '2026-03-10', endDate: '2026-03-11' },
      );
      assert.ok(r.ok);
      const downloadId = r.value;
      const status = async () => (await broken.queryBalance(merchantId, downloadId)).status;
      assert.equal(await broken.runDue(), 1);
      assert.equal(await status(), 'PROCESSING');
      assert.equal(await broken.runDue(), 0, 'not due again before its retry time');
      clock.advance(60_000);
      assert.equal(await broken.runDue(), 1);
      assert.equal(await status(), 'PROCESSING');
      clock.advance(60_000);
      assert.equal(await broken.runDue(), 1);
      assert.deepEqual(await broken.queryBalance(merchantId, downloadId), {
        exist: true,
        downloadUrl: '',
        status: 'FAILED',
      });
      clock.advance(60_000);
      assert.equal(await broken.runDue(), 0);
      const row = (
        await db.query(`SELECT attempts, last_error FROM pay_balance_reports WHERE download_id = $1`, [downloadId])
      ).rows[0];
      assert.deepEqual([row.attempts, row.last_error], [3, 'ledger unavailable']);
      const hooks = await db.query(`SELECT count(*) AS n FROM outbox WHERE payload->>'bizType' = 'BALANCE'`);
      assert.equal(Number(hooks.rows[0].n), 0);
      // Another merchant cannot see it.
      assert.equal((await service.queryBalance('1', downloadId)).exist, false);
    });

    test('orders and refunds carry their sub-merchant id into the files when the order has one (§12.4)', async (t) => {
      const has = await db.query(
        `SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'pay_orders'
         AND column_name = 'sub_merchant_id'`,
      );
      if (!has.rows.length) return t.skip('pay_orders.sub_merchant_id comes with sub-merchants (migration 0022)');
      const at = Date.UTC(2026, 2, 11, 9);
      const prepayId = String(ids.next());
      await db.query(
        `INSERT INTO pay_orders (prepay_id, merchant_id, creator_merchant_id, merchant_trade_no, api_version, status,
           terminal_type, currency, order_amount, goods, product_type, product_name, checkout_token, create_time,
           expire_time, transact_time, transaction_id, commission, sub_merchant_id)
         VALUES ($1, $2, $2, 'SUB-1', 'v3', 'REFUNDED', 'APP', 'USDT', '20', '[]', 'Food', 'Bread', $3, $4, $5, $4,
           'M_P_1', '0.2', 2107268400000001)`,
        [prepayId, merchantId, randomBytes(8).toString('hex'), at, at + 60_000],
      );
      await db.query(
        `INSERT INTO pay_refunds (refund_id, merchant_id, refund_request_id, prepay_id, attempt_no, status, currency,
           requested_amount, refund_amount, order_amount, refunded_amount, remaining_attempts, hold_id, created_at,
           completed_at)
         VALUES ($1, $2, 'RR-1', $3, 1, 'SUCCESS', 'USDT', '5', '5', '20', '5', 9, 'h1', $4, $4)`,
        [String(ids.next()).slice(0, 16), merchantId, prepayId, at],
      );
      const day = Date.UTC(2026, 2, 11);
      const [created] = await statementSources.ordersCreated(db, merchantId, day, day + DAY_MS);
      assert.equal(created!.subMerchantId, '2107268400000001');
      assert.equal(created!.refundedAmount, '5');
      const [paid] = await statementSources.ordersPaid(db, merchantId, day, day + DAY_MS);
      assert.equal(paid!.subMerchantId, '2107268400000001');
      const [refund] = await statementSources.refundsSucceeded(db, merchantId, day, day + DAY_MS);
      assert.equal(refund!.subMerchantId, '2107268400000001');
      assert.deepEqual(await statementSources.refundDays(db, merchantId, day - DAY_MS, day + DAY_MS), [day]);
    });
  });
}

describe('report pieces', () => {
  test('balance report types from ledger kinds and direction', () => {
    assert.equal(movementType('pay.payment', true), 'PAYMENT');
    assert.equal(movementType('pay.refund', false), 'REFUND');
    assert.equal(movementType('pay.payout', false), 'PAYOUT');
    assert.equal(movementType('pay.payout.fee', false), 'PAYOUT');
    assert.equal(movementType('pay.payout.refund', true), 'PAYOUT_REFUND');
    assert.equal(movementType('pay.wallet_transfer', true), 'TRANSFER_IN');
    assert.equal(movementType('pay.wallet_transfer', false), 'TRANSFER_OUT');
    assert.equal(movementType('pay.convert', false), 'CONVERT');
    assert.equal(movementType('pay.split', false), 'SPLIT');
    assert.equal(movementType('pay.split.return', true), 'SPLIT_RETURN');
    assert.equal(movementType('pay.direct_debit', true), 'DIRECT_DEBIT');
    assert.equal(movementType('sandbox.fund', true), 'ADJUSTMENT');
  });

  test('calendar months, columns, escaping, CSV quoting', () => {
    assert.equal(addMonths(Date.UTC(2023, 7, 1), 3), Date.UTC(2023, 10, 1));
    assert.equal(addMonths(Date.UTC(2023, 10, 30), 3), Date.UTC(2024, 1, 29));
    assert.equal(addMonths(Date.UTC(2023, 0, 31), 1), Date.UTC(2023, 1, 28));
    assert.deepEqual([0, 25, 26, 27, 51, 52, 701, 702].map(column), ['A', 'Z', 'AA', 'AB', 'AZ', 'BA', 'ZZ', 'AAA']);
    assert.equal(escapeXml('a&b<c>"d"\u0001\u0000e'), 'a&amp;b&lt;c&gt;&quot;d&quot;e');
    assert.equal(
      csv(
        ['a', 'b'],
        [
          ['x,y', 'q"r'],
          ['1\n2', ''],
        ],
      ),
      'a,b\r\n"x,y","q""r"\r\n"1\n2",\r\n',
    );
    const files = unzipSync(xlsx('Sheet', ['h'], [['v']]));
    assert.deepEqual(Object.keys(files).sort(), [
      '[Content_Types].xml',
      '_rels/.rels',
      'xl/_rels/workbook.xml.rels',
      'xl/workbook.xml',
      'xl/worksheets/sheet1.xml',
    ]);
  });
});
