import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { strFromU8, unzipSync } from 'fflate';
import { Decimal } from '../src/platform/money.ts';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  snapshot,
  startTestApp,
  v3Order,
  waitForOutbox,
  type TestApp,
} from './helpers.ts';
import { authorize, createTsp, type Tsp } from './tsp-support.ts';
import { createPayWebhookVerifier } from './support/pay-webhook-verifier.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * Reports (binance-pay-extended.md §13): /report/get-file, /balance-report, /balance-report/query, the download links
 * and the BALANCE webhook, end to end on a sandbox day moved into the past with the clock.
 */
type Merchant = Awaited<ReturnType<typeof createMerchant>>;
const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;
const FIELD = 'BinancePay-technicalServiceProviderAuthId';
const pad = (n: number) => String(n).padStart(2, '0');
const dmy = (ms: number) => {
  const d = new Date(ms);
  return `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)}/${d.getUTCFullYear()}`;
};
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const time = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/** The cells of the one sheet of an XLSX file, read back from its XML (inline strings). */
function readXlsx(bytes: Uint8Array): string[][] {
  const files = unzipSync(bytes);
  for (const part of [
    '[Content_Types].xml',
    '_rels/.rels',
    'xl/workbook.xml',
    'xl/_rels/workbook.xml.rels',
    'xl/worksheets/sheet1.xml',
  ])
    assert.ok(files[part], `missing part ${part}`);
  assert.equal((strFromU8(files['xl/workbook.xml']!).match(/<sheet /g) ?? []).length, 1, 'one sheet');
  const xml = strFromU8(files['xl/worksheets/sheet1.xml']!);
  const unescape = (s: string) =>
    s
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, '&');
  return [...xml.matchAll(/<row r="(\d+)">(.*?)<\/row>/g)].map((m, i) => {
    assert.equal(Number(m[1]), i + 1);
    return [
      ...m[2]!.matchAll(/<c r="([A-Z]+)\d+" t="inlineStr"><is><t xml:space="preserve">(.*?)<\/t><\/is><\/c>/g),
    ].map((c) => unescape(c[2]!));
  });
}

/** RFC 4180 with CRLF, as the files are written. */
function readCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  assert.equal(field, '', 'the last line ends with CRLF');
  return rows;
}

const T_PAYMENT = [
  'Order Time',
  'Merchant ID',
  'Sub-merchant ID',
  'Prepay ID',
  'Merchant Trade No',
  'Transaction ID',
  'Terminal Type',
  'Currency',
  'Order Amount',
  'Commission',
  'Net Amount',
  'Refunded Amount',
  'Order Status',
  'Payer Open ID',
  'Product Name',
  'Paid Time',
];
const S_PAYMENT = [
  'Settle Time',
  'Merchant ID',
  'Sub-merchant ID',
  'Prepay ID',
  'Merchant Trade No',
  'Transaction ID',
  'Currency',
  'Gross Amount',
  'Commission',
  'Net Settled',
];
const S_REFUND = [
  'Refund Time',
  'Merchant ID',
  'Sub-merchant ID',
  'Refund ID',
  'Refund Request ID',
  'Prepay ID',
  'Merchant Trade No',
  'Currency',
  'Refund Amount',
];
const T_PAYOUT = [
  'Create Time',
  'Request ID',
  'Batch Name',
  'Biz Scene',
  'Sub-merchant ID',
  'Order ID',
  'Merchant Send ID',
  'Receive Type',
  'Receiver',
  'Payee ID',
  'Transfer Method',
  'Currency',
  'Amount',
  'Fee',
  'Status',
  'Remark',
  'Finish Time',
];
const BALANCE = ['Time', 'Wallet', 'Asset', 'Change', 'Balance After', 'Type', 'Reference'];

for (const kind of DB_KINDS) {
  describe(`Binance Pay reports (${kind})`, () => {
    let t: TestApp;
    let m: Merchant;
    let payer: { payerId: string; email: string };
    let rx: Awaited<ReturnType<typeof startReceiver>>;
    let tsp: Tsp;
    /** The sandbox day (UTC start, ms) the orders and the refund are made on. */
    let day: number;
    const orders: { prepayId: string; merchantTradeNo: string }[] = [];
    let refund: { refundId: string; refundRequestId: string };

    before(async () => {
      t = await startTestApp({ kind });
      rx = await startReceiver();
      m = await createMerchant(t, { name: 'Report Shop', webhookUrl: rx.url('/merchant') });
      payer = await createPayer(t, `report-payer-${kind}@example.com`, { USDT: '100000' });
      tsp = await createTsp(t);
      // To 01:00 UTC of the next day, so everything below falls on one sandbox day whatever the real time.
      const now = t.clock.now();
      day = Math.floor(now / DAY) * DAY + DAY;
      await advance(day + HOUR - now);
      for (const [amount, paid] of [
        ['100', true],
        ['50.5', true],
        ['7', false],
      ] as const) {
        const c = await m.client.post('/v3/order', v3Order({ orderAmount: amount }));
        assert.equal(c.json.status, 'SUCCESS', c.text);
        orders.push({ prepayId: c.json.data.prepayId, merchantTradeNo: '' });
        if (paid) {
          const p = await t.admin('POST', `/sandbox/v1/orders/${c.json.data.prepayId}/pay`, {
            payerEmail: payer.email,
          });
          assert.equal(p.status, 200, JSON.stringify(p.json));
        }
      }
      for (const o of orders)
        o.merchantTradeNo = (
          await m.client.post('/v2/order/query', { prepayId: o.prepayId })
        ).json.data.merchantTradeNo;
      // A minute later (the sandbox clock stands still between advances): the ledger orders postings by time.
      await advance(MINUTE);
      const r = await m.client.post('/order/refund', {
        refundRequestId: `RPT-${kind}-${Date.now()}`,
        prepayId: orders[0]!.prepayId,
        refundAmount: '10',
      });
      assert.equal(r.json.status, 'SUCCESS', r.text);
      refund = { refundId: String(r.json.data.refundId), refundRequestId: r.json.data.refundRequestId };
      for (let n = await t.app.outboxWorker.runOnce(); n > 0; n = await t.app.outboxWorker.runOnce());
      const q = await m.client.post('/order/refund/query', { refundRequestId: refund.refundRequestId });
      assert.equal(q.json.data.refundStatus, 'REFUND_SUCCESS', q.text);
    });
    // The ledger audit holds after every test (reports move no money; the orders and refunds they read do).
    afterEach(() => assertAuditOk(t));
    after(async () => {
      await assertAuditOk(t);
      await rx.close();
      await tsp.receiver.close();
      await t.close();
    });

    async function advance(ms: number) {
      const r = await t.admin('POST', '/sandbox/v1/clock/advance', { ms });
      assert.equal(r.status, 200, JSON.stringify(r.json));
    }

    async function refused(merchant: Merchant, path: string, body: unknown, code: string, message?: RegExp) {
      const before = await snapshot(t.db);
      const r = await merchant.client.post(path, body);
      assert.equal(r.json.status, 'FAIL', `${JSON.stringify(body)} → ${r.text}`);
      assert.equal(r.json.code, code, `${JSON.stringify(body)} → ${r.text}`);
      if (message) assert.match(r.json.errorMessage, message, r.text);
      assert.deepEqual(await snapshot(t.db), before, `${JSON.stringify(body)} changed something`);
      return r;
    }

    async function download(url: string, query = '') {
      const res = await fetch(url + query);
      return {
        status: res.status,
        type: res.headers.get('content-type'),
        bytes: new Uint8Array(await res.arrayBuffer()),
      };
    }

    describe('rules, gates and scopes', () => {
      test('get-file: every field rule, in the order of §13.1, with its code; a refusal changes nothing', async () => {
        const good = {
          reportType: 'Transaction',
          transactionType: 'Payment',
          startDate: '01/08/2023',
          endDate: '15/08/2023',
        };
        const cases: [Record<string, unknown>, string, RegExp][] = [
          [{ ...good, reportType: undefined }, '400100', /^reportType: /],
          [{ ...good, reportType: '' }, '400100', /^reportType: /],
          [{ ...good, reportType: 'transaction' }, '400102', /^reportType: must be one of Transaction, Settlement/],
          [{ ...good, reportType: 'TRANSACTION' }, '400102', /^reportType/],
          [
            { ...good, transactionType: undefined },
            '400100',
            /^transactionType: is required for reportType Transaction/,
          ],
          [{ ...good, transactionType: null }, '400100', /^transactionType/],
          [{ ...good, transactionType: '' }, '400100', /^transactionType/],
          [{ ...good, transactionType: 'payment' }, '400102', /^transactionType: must be one of Payment, Payout/],
          [{ ...good, transactionType: 'Refund' }, '400102', /^transactionType/],
          [{ ...good, reportType: 'Settlement' }, '400102', /^transactionType: must be absent, null or empty/],
          [{ ...good, startDate: undefined }, '400100', /^startDate/],
          [{ ...good, startDate: '2023-08-01' }, '400101', /^startDate: must be a date dd\/MM\/yyyy/],
          [{ ...good, startDate: '1/8/2023' }, '400101', /^startDate/],
          [{ ...good, startDate: '31/02/2023' }, '400101', /^startDate/],
          [{ ...good, endDate: '15-08-2023' }, '400101', /^endDate/],
          [{ ...good, endDate: undefined }, '400100', /^endDate/],
          [{ ...good, startDate: '16/08/2023' }, '400102', /startDate must not be after endDate/],
          // 3 calendar months at most: 01/08–31/10 is, 01/08–01/11 is not.
          [{ ...good, startDate: '01/08/2023', endDate: '01/11/2023' }, '400102', /at most 3 months/],
          [{ ...good, startDate: '30/11/2023', endDate: '29/02/2024' }, '400102', /at most 3 months/],
        ];
        for (const [body, code, message] of cases) await refused(m, '/report/get-file', body, code, message);
        for (const body of [
          { ...good, startDate: '01/08/2023', endDate: '31/10/2023' },
          { ...good, startDate: '30/11/2023', endDate: '28/02/2024' },
          { ...good, transactionType: 'Payout' },
          { ...good, reportType: 'Settlement', transactionType: null },
          { ...good, reportType: 'Settlement', transactionType: '' },
          { reportType: 'Settlement', startDate: '01/08/2023', endDate: '01/08/2023' },
        ]) {
          const r = await m.client.post('/report/get-file', body);
          assert.deepEqual(r.json, { status: 'SUCCESS', code: '000000', data: [], errorMessage: null }, r.text);
        }
        // Sent as JSON numbers, Python-style spacing: dates still must be dd/MM/yyyy.
        const spaced = await m.client.post(
          '/report/get-file',
          '{"reportType": "Transaction", "transactionType": "Payment", "startDate": 20230801, "endDate": "15/08/2023"}',
        );
        assert.equal(spaced.json.code, '400101', spaced.text);
      });

      test('balance-report and its query: every field rule with its code; the current day cannot be included', async () => {
        const today = Math.floor(t.clock.now() / DAY) * DAY;
        const good = {
          reportType: 'Balance',
          walletType: 'SPOT_WALLET',
          startDate: '2022-08-20',
          endDate: '2022-09-05',
        };
        const cases: [Record<string, unknown>, string, RegExp][] = [
          [{ ...good, reportType: undefined }, '400100', /^reportType/],
          [{ ...good, reportType: 'balance' }, '400102', /^reportType: must be one of Balance/],
          [{ ...good, walletType: 'SPOT' }, '400102', /^walletType: must be one of SPOT_WALLET, FUNDING_WALLET/],
          [{ ...good, walletType: 'spot_wallet' }, '400102', /^walletType/],
          [{ ...good, startDate: '20/08/2022' }, '400101', /^startDate: must be a date YYYY-MM-DD/],
          [{ ...good, startDate: '2022-02-30' }, '400101', /^startDate/],
          [{ ...good, endDate: undefined }, '400100', /^endDate/],
          [{ ...good, endDate: '2022-9-5' }, '400101', /^endDate/],
          [{ ...good, endDate: '2022-08-20' }, '400102', /endDate must be at least one day after startDate/],
          [{ ...good, endDate: '2022-08-19' }, '400102', /at least one day after/],
          [{ ...good, endDate: '2022-11-21' }, '400102', /at most 3 months/],
          [
            { ...good, startDate: iso(today - DAY), endDate: iso(today + DAY) },
            '400102',
            /current day cannot be included/,
          ],
        ];
        for (const [body, code, message] of cases) await refused(m, '/balance-report', body, code, message);
        // [start, end) of exactly 3 months, and an interval ending today (exclusive), are accepted.
        for (const body of [
          { ...good, endDate: '2022-11-20' },
          { reportType: 'Balance', startDate: iso(today - DAY), endDate: iso(today) },
        ]) {
          const r = await m.client.post('/balance-report', body);
          assert.equal(r.json.status, 'SUCCESS', r.text);
          assert.match(r.text, /"data":"\d{18}"/);
        }

        await refused(m, '/balance-report/query', {}, '400100', /^downloadId/);
        await refused(m, '/balance-report/query', { downloadId: '' }, '400100', /^downloadId/);
        await refused(m, '/balance-report/query', { downloadId: 'x'.repeat(65) }, '400101', /^downloadId/);
        for (const downloadId of ['197620356272996352', 'not-an-id', '99999999999999999999']) {
          const r = await m.client.post('/balance-report/query', { downloadId });
          assert.equal(
            r.text,
            '{"status":"SUCCESS","code":"000000","data":{"exist":false,"downloadUrl":null,"status":"FAILED"},' +
              '"errorMessage":null}',
          );
        }
      });

      test(
        'feature reports off → 400203 on all three endpoints (after the fields), nothing changes; on ' +
          'again → works',
        async () => {
          const other = await createMerchant(t, { name: 'No Reports' });
          const off = await t.admin('PATCH', `/admin/v1/merchants/${other.merchantId}`, {
            features: { reports: false },
          });
          assert.equal(off.status, 200, JSON.stringify(off.json));
          const bodies: [string, Record<string, unknown>][] = [
            ['/report/get-file', { reportType: 'Settlement', startDate: '01/08/2023', endDate: '02/08/2023' }],
            ['/balance-report', { reportType: 'Balance', startDate: '2022-08-20', endDate: '2022-09-05' }],
            ['/balance-report/query', { downloadId: '1' }],
          ];
          for (const [path, body] of bodies)
            await refused(other, path, body, '400203', /^Not support for this account, please check account status\.$/);
          // Field rules come first.
          await refused(other, '/report/get-file', { reportType: 'Nope' }, '400102');
          await t.admin('PATCH', `/admin/v1/merchants/${other.merchantId}`, { features: { reports: true } });
          for (const [path, body] of bodies)
            assert.equal((await other.client.post(path, body)).json.status, 'SUCCESS', path);
        },
      );

      test(
        'TSP: with the REPORT scope it reads the merchant’s files; without it, or from outside its IP ' +
          'whitelist, 400004',
        async () => {
          const body = { reportType: 'Settlement', startDate: dmy(day), endDate: dmy(day) };
          const bodies: [string, Record<string, unknown>][] = [
            ['/report/get-file', body],
            ['/balance-report', { reportType: 'Balance', startDate: '2022-08-20', endDate: '2022-09-05' }],
            ['/balance-report/query', { downloadId: '1' }],
          ];
          // One authorization per TSP and merchant at a time: each new one replaces the last.
          const checkout = await authorize(t, tsp, m.merchantId, ['CHECKOUT']);
          for (const [path, b] of bodies) {
            const s = await snapshot(t.db);
            const r = await tsp.client.post(path, { [FIELD]: checkout.authorizationToken, ...b });
            assert.deepEqual(r.json, {
              status: 'FAIL',
              code: '400004',
              errorMessage: 'Scope REPORT is not authorized.',
            });
            assert.deepEqual(await snapshot(t.db), s);
          }
          const walled = await authorize(t, tsp, m.merchantId, ['REPORT'], ['10.1.2.3']);
          for (const [path, b] of bodies) {
            const s = await snapshot(t.db);
            const r = await tsp.client.post(path, { [FIELD]: walled.authorizationToken, ...b });
            assert.deepEqual(r.json, {
              status: 'FAIL',
              code: '400004',
              errorMessage: 'IP is not in the authorization whitelist.',
            });
            assert.deepEqual(await snapshot(t.db), s);
          }
          const ok = await authorize(t, tsp, m.merchantId, ['REPORT']);
          // Advance past the day so it has files (the next test relies on the same day being yesterday).
          await advance(DAY);
          const viaTsp = await tsp.client.post('/report/get-file', { [FIELD]: ok.authorizationToken, ...body });
          assert.equal(viaTsp.json.status, 'SUCCESS', viaTsp.text);
          assert.deepEqual(
            viaTsp.json.data.map((f: any) => f.fileName),
            [`S_Payment_${dmy(day).replace(/\//g, '')}.xlsx`, `S_Refund_${dmy(day).replace(/\//g, '')}.xlsx`],
          );
          // A balance report requested by the TSP belongs to the merchant: the merchant's own key can query it.
          const b = await tsp.client.post('/balance-report', {
            [FIELD]: ok.authorizationToken,
            reportType: 'Balance',
            startDate: iso(day),
            endDate: iso(day + DAY),
          });
          assert.equal(b.json.status, 'SUCCESS', b.text);
          const q = await m.client.post('/balance-report/query', { downloadId: b.json.data });
          assert.equal(q.json.data.exist, true, q.text);
          // The TSP, as itself, has no such report.
          const own = await tsp.client.post('/balance-report/query', { downloadId: b.json.data });
          assert.equal(own.json.data.exist, false, own.text);
        },
      );
    });
    describe('daily files and their links', () => {
      test('daily files: one per day with rows, newest first, exact names and links; today has none', async () => {
        const compact = dmy(day).replace(/\//g, '');
        const today = day + DAY;
        // Today (the day after `day`) has no files yet, even with activity.
        const none = await m.client.post('/report/get-file', {
          reportType: 'Transaction',
          transactionType: 'Payment',
          startDate: dmy(today),
          endDate: dmy(today),
        });
        assert.deepEqual(none.json.data, []);
        const r = await m.client.post('/report/get-file', {
          reportType: 'Transaction',
          transactionType: 'Payment',
          startDate: dmy(day - 5 * DAY),
          endDate: dmy(today + 2 * DAY),
        });
        assert.equal(r.json.status, 'SUCCESS', r.text);
        assert.equal(r.json.data.length, 1, r.text);
        const f = r.json.data[0];
        assert.deepEqual(Object.keys(f), [
          'reportType',
          'transactionType',
          'transactionDate',
          'fileName',
          'downloadUrl',
        ]);
        assert.deepEqual(
          { ...f, downloadUrl: '' },
          {
            reportType: 'Transaction',
            transactionType: 'Payment',
            transactionDate: dmy(day),
            fileName: `T_Payment_${compact}.xlsx`,
            downloadUrl: '',
          },
        );
        assert.match(
          f.downloadUrl,
          new RegExp(`^${t.baseUrl}/binancepay/files/[0-9a-f]{32}/T_Payment_${compact}\\.xlsx$`),
        );
        const s = await m.client.post('/report/get-file', {
          reportType: 'Settlement',
          startDate: dmy(day - DAY),
          endDate: dmy(today),
        });
        assert.deepEqual(
          s.json.data.map((x: any) => [x.reportType, x.transactionType, x.transactionDate, x.fileName]),
          [
            ['Settlement', 'Payment', dmy(day), `S_Payment_${compact}.xlsx`],
            ['Settlement', 'Refund', dmy(day), `S_Refund_${compact}.xlsx`],
          ],
        );
        // Payouts: none made, so no files.
        const p = await m.client.post('/report/get-file', {
          reportType: 'Transaction',
          transactionType: 'Payout',
          startDate: dmy(day),
          endDate: dmy(day),
        });
        assert.deepEqual(p.json.data, []);

        // Newest day first: an order on a later (now closed) day adds a file before this one.
        const later = await m.client.post('/v3/order', v3Order({ orderAmount: '1' }));
        assert.equal(later.json.status, 'SUCCESS');
        await advance(DAY);
        const two = await m.client.post('/report/get-file', {
          reportType: 'Transaction',
          transactionType: 'Payment',
          startDate: dmy(day),
          endDate: dmy(today),
        });
        assert.deepEqual(
          two.json.data.map((x: any) => x.transactionDate),
          [dmy(today), dmy(day)],
        );
      });

      test('daily files: XLSX and CSV with the §13.2 columns and rows for orders and refunds', async () => {
        const compact = dmy(day).replace(/\//g, '');
        const list = async (body: Record<string, unknown>) =>
          (await m.client.post('/report/get-file', { ...body, startDate: dmy(day), endDate: dmy(day) })).json.data;
        const [tp] = await list({ reportType: 'Transaction', transactionType: 'Payment' });
        const [sp, sr] = await list({ reportType: 'Settlement' });

        const x = await download(tp.downloadUrl);
        assert.equal(x.status, 200);
        assert.equal(x.type, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
        const sheet = readXlsx(x.bytes);
        const c = await download(tp.downloadUrl, '?format=csv');
        assert.equal(c.status, 200);
        assert.match(c.type ?? '', /^text\/csv; charset=utf-8/);
        assert.deepEqual(readCsv(new TextDecoder().decode(c.bytes)), sheet, 'CSV = XLSX');
        assert.deepEqual(sheet[0], T_PAYMENT);
        assert.equal(sheet.length, 4, 'three orders created that day');

        const at = day + HOUR;
        const rate = t.config.pay.commissionRate;
        const fee = (amount: string) => new Decimal(amount).mul(rate).toFixed(8, Decimal.ROUND_DOWN);
        const expected = [];
        for (const [i, amount, status] of [
          [0, '100', 'REFUNDED'],
          [1, '50.5', 'PAID'],
          [2, '7', 'INITIAL'],
        ] as const) {
          const o = (await m.client.post('/v2/order/query', { prepayId: orders[i]!.prepayId })).json.data;
          assert.equal(o.status, status);
          const paid = status !== 'INITIAL';
          const product = (
            await t.db.query(`SELECT product_name FROM pay_orders WHERE prepay_id = $1`, [orders[i]!.prepayId])
          ).rows[0].product_name;
          const commission = paid ? fee(amount) : '0.00000000';
          if (paid) assert.equal(commission, o.commission);
          expected.push([
            time(at),
            m.merchantId,
            '',
            orders[i]!.prepayId,
            orders[i]!.merchantTradeNo,
            paid ? `M_P_${orders[i]!.prepayId}` : '',
            'WEB',
            'USDT',
            new Decimal(amount).toFixed(8),
            commission,
            paid ? new Decimal(amount).minus(commission).toFixed(8) : '0.00000000',
            i === 0 ? '10.00000000' : '0.00000000',
            status,
            paid ? o.openUserId : '',
            product,
            paid ? time(at) : '',
          ]);
        }
        assert.deepEqual(sheet.slice(1), expected);
        assert.equal(expected[0]![9], fee('100'));

        const net = (amount: string) => new Decimal(amount).minus(fee(amount)).toFixed(8);
        const settle = readXlsx((await download(sp.downloadUrl)).bytes);
        assert.equal(sp.fileName, `S_Payment_${compact}.xlsx`);
        assert.deepEqual(settle[0], S_PAYMENT);
        assert.deepEqual(
          settle.slice(1).map((r) => [r[0], r[3], r[6], r[7], r[8], r[9]]),
          [
            [time(at), orders[0]!.prepayId, 'USDT', '100.00000000', fee('100'), net('100')],
            [time(at), orders[1]!.prepayId, 'USDT', '50.50000000', fee('50.5'), net('50.5')],
          ],
        );
        const refunds = readXlsx((await download(sr.downloadUrl)).bytes);
        assert.deepEqual(refunds, [
          S_REFUND,
          [
            time(at + MINUTE),
            m.merchantId,
            '',
            refund.refundId,
            refund.refundRequestId,
            orders[0]!.prepayId,
            orders[0]!.merchantTradeNo,
            'USDT',
            '10.00000000',
          ],
        ]);
        const refundCsv = new TextDecoder().decode((await download(sr.downloadUrl, '?format=csv')).bytes);
        assert.equal(refundCsv.split('\r\n')[0], S_REFUND.join(','));
      });

      test(
        'download links: tampered, renamed, wrong format → 404; each link lapses after 1 hour (business ' +
          'clock) → 404',
        async () => {
          const [f] = (
            await m.client.post('/report/get-file', {
              reportType: 'Settlement',
              startDate: dmy(day),
              endDate: dmy(day),
            })
          ).json.data;
          const url: string = f.downloadUrl;
          const token = /files\/([0-9a-f]{32})\//.exec(url)![1]!;
          const flipped = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
          const notFound = { status: 'FAIL', code: '400000', errorMessage: 'Not found.' };
          for (const bad of [
            url.replace(token, flipped),
            url.replace(token, token.toUpperCase()),
            url.replace(token, token.slice(0, 16)),
            url.replace('S_Payment', 'S_Refund'),
            url.replace('.xlsx', '.csv'),
            `${url}?format=pdf`,
            `${t.baseUrl}/binancepay/files/${token}`,
          ]) {
            const res = await fetch(bad);
            assert.equal(res.status, 404, bad);
            assert.deepEqual(await res.json(), notFound, bad);
          }
          assert.equal((await download(url)).status, 200);
          // No authentication header is needed, and none changes anything.
          assert.equal((await fetch(url, { headers: { authorization: 'Bearer nope' } })).status, 200);
          await advance(HOUR - 1);
          assert.equal((await download(url)).status, 200, 'still valid just before the hour');
          await advance(1);
          const gone = await fetch(url);
          assert.equal(gone.status, 404);
          assert.deepEqual(await gone.json(), notFound);
          assert.equal((await download(url, '?format=csv')).status, 404);
          // A new call gives a fresh link.
          const [again] = (
            await m.client.post('/report/get-file', {
              reportType: 'Settlement',
              startDate: dmy(day),
              endDate: dmy(day),
            })
          ).json.data;
          assert.notEqual(again.downloadUrl, url);
          assert.equal((await download(again.downloadUrl)).status, 200);
        },
      );
    });
    describe('balance reports, and payouts in the reports', () => {
      test(
        'balance report: PROCESSING → SUCCESS by the worker, one BALANCE webhook (RSA-verified), the file, EXPIRED ' +
          'after 24 h',
        async () => {
          const verifier = createPayWebhookVerifier(m.client);
          const r = await m.client.post('/balance-report', {
            reportType: 'Balance',
            walletType: 'FUNDING_WALLET',
            startDate: iso(day),
            endDate: iso(day + DAY),
          });
          assert.equal(r.json.status, 'SUCCESS', r.text);
          const downloadId: string = r.json.data;
          assert.match(r.text, new RegExp(`"data":"${downloadId}"`));
          const createdAt = t.clock.now();
          const processing = await m.client.post('/balance-report/query', { downloadId });
          assert.equal(
            processing.text,
            '{"status":"SUCCESS","code":"000000","data":{"exist":true,"downloadUrl":"","status":"PROCESSING"},' +
              '"errorMessage":null}',
          );

          t.app.startWorkers({ idleMs: 50 });
          const done = await waitFor('the report', async () => {
            const q = await m.client.post('/balance-report/query', { downloadId });
            return q.json.data.status === 'SUCCESS' && q.json.data;
          });
          const generatedAt = t.clock.now();
          const compact = (ms: number) => iso(ms).replace(/-/g, '');
          assert.match(
            done.downloadUrl,
            new RegExp(`^${t.baseUrl}/binancepay/files/[0-9a-f]{32}/B_${compact(day)}_${compact(day + DAY)}\\.xlsx$`),
          );

          const hook = await waitFor('BALANCE webhook', () =>
            rx.received.find((x) => x.body.toString().includes(`"bizType":"BALANCE","bizId":${downloadId},`)),
          );
          const w = await verifier.verify(hook.headers as any, hook.body);
          assert.equal(hook.path, '/merchant');
          assert.deepEqual(
            [w.bizType, w.bizIdRaw, w.bizIdStr, w.bizStatus],
            ['BALANCE', downloadId, downloadId, 'BALANCE_SUCCESS'],
          );
          assert.equal(
            w.dataText,
            `{"downloadType":"merchant_balance_download_task","downloadId":${downloadId},"userId":${m.merchantId},` +
              `"status":2,"downloadLink":"${done.downloadUrl}","expirationTimestamp":${generatedAt + 24 * HOUR},` +
              `"createTime":"${time(createdAt)}","callbackUrl":"${rx.url('/merchant')}"}`,
          );

          // The ledger movements of the day on the funding wallet, with the balance after each.
          const file = await download(done.downloadUrl);
          assert.equal(file.status, 200);
          const rows = readXlsx(file.bytes);
          assert.deepEqual(rows[0], BALANCE);
          const at = time(day + HOUR);
          const [a, b] = orders;
          const rate = t.config.pay.commissionRate;
          const net = (amount: string) =>
            new Decimal(amount).minus(new Decimal(amount).mul(rate).toDecimalPlaces(8, Decimal.ROUND_DOWN));
          const after1 = net('100');
          const after2 = after1.plus(net('50.5'));
          assert.deepEqual(rows.slice(1), [
            [at, 'FUNDING_WALLET', 'USDT', net('100').toFixed(8), after1.toFixed(8), 'PAYMENT', a!.prepayId],
            [at, 'FUNDING_WALLET', 'USDT', net('50.5').toFixed(8), after2.toFixed(8), 'PAYMENT', b!.prepayId],
            [
              time(day + HOUR + MINUTE),
              'FUNDING_WALLET',
              'USDT',
              '-10.00000000',
              after2.minus(10).toFixed(8),
              'REFUND',
              a!.prepayId,
            ],
          ]);
          const c = await download(done.downloadUrl, '?format=csv');
          assert.deepEqual(readCsv(new TextDecoder().decode(c.bytes)), rows);

          // The report the TSP requested (test above) was generated too: its webhook went to the merchant, not the TSP.
          await waitFor(
            'every report generated',
            async () =>
              (await t.db.query(`SELECT 1 FROM pay_balance_reports WHERE status = 'PROCESSING' LIMIT 1`)).rows
                .length === 0,
          );
          await waitForOutbox(t, ['webhook']);
          assert.ok(!tsp.receiver.received.some((x) => x.body.toString().includes('"bizType":"BALANCE"')));
          assert.ok(rx.received.filter((x) => x.body.toString().includes('"bizType":"BALANCE"')).length >= 2);

          // Once, whatever the worker does next.
          await new Promise((res) => setTimeout(res, 300));
          const count = () =>
            rx.received.filter((x) => x.body.toString().includes(`"bizIdStr":"${downloadId}"`)).length;
          assert.equal(count(), 1);

          // 24 h later: EXPIRED, and the link is gone.
          await advance(24 * HOUR);
          await waitFor('EXPIRED', async () => {
            const q = await m.client.post('/balance-report/query', { downloadId });
            return q.json.data.status === 'EXPIRED' && q.json.data;
          });
          const q = await m.client.post('/balance-report/query', { downloadId });
          assert.deepEqual(q.json.data, { exist: true, downloadUrl: '', status: 'EXPIRED' });
          assert.equal((await download(done.downloadUrl)).status, 404);
          assert.equal(count(), 1);
          const row = (await t.db.query(`SELECT status FROM pay_balance_reports WHERE download_id = $1`, [downloadId]))
            .rows[0];
          assert.equal(row.status, 'EXPIRED');
        },
      );

      test(
        'balance report of both wallets, or one: transfers show as TRANSFER_OUT / TRANSFER_IN; no webhook URL, ' +
          'no webhook',
        async () => {
          const today = Math.floor(t.clock.now() / DAY) * DAY;
          // A move between the merchant's two wallets, posted as the wallet-transfer area posts it (one ledger
          // transfer).
          await t.db.tx((q) =>
            t.app.services.ledger.transfer(q, {
              id: `test:transfer:${kind}`,
              debit: { ownerType: 'merchant', ownerId: m.merchantId, asset: 'USDT' },
              credit: { ownerType: 'merchant_spot', ownerId: m.merchantId, asset: 'USDT' },
              amount: '5',
              kind: 'pay.wallet_transfer',
              ref: 'TR-REPORT-1',
            }),
          );
          const funding = (
            await t.app.services.ledger.balance(t.db, { ownerType: 'merchant', ownerId: m.merchantId, asset: 'USDT' })
          ).posted;
          await advance(DAY);
          const report = async (merchant: Merchant, walletType?: string) => {
            const r = await merchant.client.post('/balance-report', {
              reportType: 'Balance',
              ...(walletType ? { walletType } : {}),
              startDate: iso(today),
              endDate: iso(today + DAY),
            });
            assert.equal(r.json.status, 'SUCCESS', r.text);
            const done = await waitFor('the report', async () => {
              const q = await merchant.client.post('/balance-report/query', { downloadId: r.json.data });
              return q.json.data.status === 'SUCCESS' && q.json.data;
            });
            return readXlsx((await download(done.downloadUrl)).bytes);
          };
          const at = time(t.clock.now() - DAY);
          const both = await report(m);
          assert.deepEqual(both, [
            BALANCE,
            [
              at,
              'FUNDING_WALLET',
              'USDT',
              '-5.00000000',
              new Decimal(funding).toFixed(8),
              'TRANSFER_OUT',
              'TR-REPORT-1',
            ],
            [at, 'SPOT_WALLET', 'USDT', '5.00000000', '5.00000000', 'TRANSFER_IN', 'TR-REPORT-1'],
          ]);
          assert.deepEqual(await report(m, 'SPOT_WALLET'), [BALANCE, both[2]]);

          const quiet = await createMerchant(t, { name: 'Quiet Shop' });
          assert.deepEqual(await report(quiet), [BALANCE]);
          const queued = async (merchantId: string) =>
            Number(
              (
                await t.db.query(
                  `SELECT count(*) AS n FROM outbox WHERE topic = 'webhook' AND payload->>'bizType' = 'BALANCE'
               AND payload->>'ownerId' = $1`,
                  [merchantId],
                )
              ).rows[0].n,
            );
          assert.equal(await queued(quiet.merchantId), 0);
          assert.ok((await queued(m.merchantId)) >= 2);
        },
      );

      // Payout rows come from the payout area (src/pay/module.ts passes payouts.payouts to the statements module).
      test('T_Payout files from payout details, and PAYOUT movements in the balance report', async () => {
        const pm = await createMerchant(t, { name: 'Payout Shop' });
        const payee = await createPayer(t, `report-payee-${kind}@example.com`, {});
        const today = Math.floor(t.clock.now() / DAY) * DAY;
        await t.db.tx((q) =>
          t.app.services.ledger.transfer(q, {
            id: `test:fund:${pm.merchantId}`,
            debit: { ownerType: 'platform', ownerId: 'sandbox_mint', asset: 'USDT' },
            credit: { ownerType: 'merchant', ownerId: pm.merchantId, asset: 'USDT' },
            amount: '100',
            kind: 'sandbox.fund',
          }),
        );
        // The ledger orders postings of one instant by transfer id: a minute apart, the file reads in posting order.
        await advance(MINUTE);
        const requestId = `rpt${kind}${Date.now()}`;
        const c = await pm.client.post('/payout/transfer', {
          requestId,
          batchName: 'Report payouts',
          bizScene: 'SETTLEMENT',
          currency: 'USDT',
          totalAmount: '12.5',
          totalNumber: 1,
          transferDetailList: [
            {
              merchantSendId: 'send1',
              receiveType: 'BINANCE_ID',
              receiver: payee.payerId,
              transferAmount: '12.5',
              transferMethod: 'FUNDING_WALLET',
              remark: 'bonus',
            },
          ],
        });
        assert.equal(c.json.status, 'SUCCESS', c.text);
        const batch = await waitFor('the payout', async () => {
          const q = await pm.client.post('/payout/query', { requestId });
          return q.json.data?.batchStatus === 'SUCCESS' && q.json.data;
        });
        const d = batch.transferDetailList[0];
        await advance(DAY);
        const [f, ...rest] = (
          await pm.client.post('/report/get-file', {
            reportType: 'Transaction',
            transactionType: 'Payout',
            startDate: dmy(today),
            endDate: dmy(today),
          })
        ).json.data;
        assert.deepEqual(rest, []);
        assert.equal(f.fileName, `T_Payout_${dmy(today).replace(/\//g, '')}.xlsx`);
        const rows = readXlsx((await download(f.downloadUrl)).bytes);
        assert.deepEqual(rows[0], T_PAYOUT);
        assert.equal(rows.length, 2);
        const row = rows[1]!;
        assert.equal(row[0], time(t.clock.now() - DAY), 'created one day before now');
        assert.deepEqual(row.slice(1, 16), [
          requestId,
          'Report payouts',
          'SETTLEMENT',
          '',
          d.orderId,
          'send1',
          'BINANCE_ID',
          payee.payerId,
          String(d.payeeId),
          'FUNDING_WALLET',
          'USDT',
          '12.50000000',
          new Decimal(String(batch.totalPayoutFee)).toFixed(8),
          'SUCCESS',
          'bonus',
        ]);
        assert.match(row[16]!, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);

        const b = await pm.client.post('/balance-report', {
          reportType: 'Balance',
          walletType: 'FUNDING_WALLET',
          startDate: iso(today),
          endDate: iso(today + DAY),
        });
        const done = await waitFor('the report', async () => {
          const q = await pm.client.post('/balance-report/query', { downloadId: b.json.data });
          return q.json.data.status === 'SUCCESS' && q.json.data;
        });
        const movements = readXlsx((await download(done.downloadUrl)).bytes).slice(1);
        assert.deepEqual(movements[0]!.slice(3, 6), ['100.00000000', '100.00000000', 'ADJUSTMENT']);
        assert.ok(movements.slice(1).length >= 1);
        for (const m of movements.slice(1)) assert.equal(m[5], 'PAYOUT', JSON.stringify(m));
        assert.equal(movements.at(-1)![4], new Decimal(100).minus(12.5).minus(String(batch.totalPayoutFee)).toFixed(8));
      });

      test('at most 50 balance reports per merchant and calendar month, counted in the inserting transaction', async () => {
        const busy = await createMerchant(t, { name: 'Busy Shop' });
        const today = Math.floor(t.clock.now() / DAY) * DAY;
        const body = { reportType: 'Balance', startDate: iso(today - DAY), endDate: iso(today) };
        // 60 at once: exactly 50 pass.
        const all = await Promise.all(Array.from({ length: 60 }, () => busy.client.post('/balance-report', body)));
        const passed = all.filter((x) => x.json.status === 'SUCCESS');
        assert.equal(passed.length, 50);
        for (const x of all.filter((y) => y.json.status !== 'SUCCESS'))
          assert.deepEqual(x.json, {
            status: 'FAIL',
            code: '400102',
            errorMessage: 'Monthly balance report limit reached.',
          });
        // The worker is running: let it finish the 50 so that the snapshot of the refused request holds still.
        await waitFor(
          'the reports generated',
          async () =>
            Number(
              (await t.db.query(`SELECT count(*) AS n FROM pay_balance_reports WHERE status = 'PROCESSING'`)).rows[0].n,
            ) === 0,
          30_000,
        );
        await waitForOutbox(t, ['webhook']);
        await refused(busy, '/balance-report', body, '400102', /^Monthly balance report limit reached\.$/);
        const rows = await t.db.query(`SELECT count(*) AS n FROM pay_balance_reports WHERE merchant_id = $1`, [
          busy.merchantId,
        ]);
        assert.equal(Number(rows.rows[0].n), 50);
        // Another merchant is not affected; the next calendar month starts again.
        assert.equal((await m.client.post('/balance-report', body)).json.status, 'SUCCESS');
        const now = t.clock.now();
        const d = new Date(now);
        await advance(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1, 1) - now);
        const next = Math.floor(t.clock.now() / DAY) * DAY;
        const again = await busy.client.post('/balance-report', {
          ...body,
          startDate: iso(next - DAY),
          endDate: iso(next),
        });
        assert.equal(again.json.status, 'SUCCESS', again.text);
      });
    });
  });
}
