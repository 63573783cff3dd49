import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  snapshot,
  startTestApp,
  type TestApp,
} from './helpers.ts';
import { createPayWebhookVerifier } from './support/pay-webhook-verifier.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';
import { authorize, createTsp, type Tsp } from './tsp-support.ts';

/**
 * Payer verification and share account id over the signed API (binance-pay-extended.md §17.1, §17.2): every field
 * rule and code, the comparison rules against an approved KYC record, the feature gates, TSP scope and IP,
 * idempotent requests, the consent decision in every state (the SHARE_ACCOUNT_ID webhook on Agree only, verified with
 * Binance's RSA method) and the sandbox hook.
 */
type Merchant = Awaited<ReturnType<typeof createMerchant>>;
const FIELD = 'BinancePay-technicalServiceProviderAuthId';
const MIN15 = 15 * 60_000;
let seq = 0;
const rid = () => `S${Date.now().toString(36)}${++seq}`;
const snap0 = (t: TestApp) =>
  snapshot(t.db, ['pay_nonces', 'webhook_delivery_attempts', 'sessions', 'operator_audit_log']);

for (const kind of DB_KINDS) {
  describe(`Payer verification and share account id (${kind})`, () => {
    let t: TestApp;
    let m: Merchant;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let alice: Awaited<ReturnType<typeof createPayer>>;
    let bob: Awaited<ReturnType<typeof createPayer>>;
    let carol: Awaited<ReturnType<typeof createPayer>>;

    /** An approved buy-flow KYC record for a payer, with these attested fields. */
    async function approveKyc(
      payerId: string,
      basic: Record<string, string>,
      country = 'SG',
      documentType = 'PASSPORT',
    ) {
      const s = t.app.services;
      const payer = await s.accounts.getPayer(payerId);
      const r = await t.db.tx((q) =>
        s.kyc.submitBuyflow(q, `buyflow:${payer!.userId}`, { country, documentType, basic, files: [] }),
      );
      assert.ok(r.ok);
      const d = await s.kyc.decide(r.value.recordId, 'PASS');
      assert.ok(d.ok);
    }
    async function deliver() {
      for (let k = await t.app.outboxWorker.runOnce(); k > 0; k = await t.app.outboxWorker.runOnce());
    }

    before(async () => {
      t = await startTestApp({ kind });
      receiver = await startReceiver();
      m = await createMerchant(t, { name: 'Share Shop', webhookUrl: receiver.url('/merchant') });
      alice = await createPayer(t, `alice-${kind}@example.com`, {});
      bob = await createPayer(t, `bob-${kind}@example.com`, {});
      carol = await createPayer(t, `carol-${kind}@example.com`, {});
      await approveKyc(alice.payerId, { firstName: 'Alice', lastName: 'Ng', dateOfBirth: '1990-04-01' });
      // Bob's KYC is submitted but never approved.
      const payer = await t.app.services.accounts.getPayer(bob.payerId);
      await t.db.tx((q) =>
        t.app.services.kyc.submitBuyflow(q, `buyflow:${payer!.userId}`, {
          country: 'SG',
          documentType: 'PASSPORT',
          basic: { firstName: 'Bob', lastName: 'Lee', dateOfBirth: '1980-01-01' },
          files: [],
        }),
      );
    });
    after(async () => {
      await receiver?.close();
      await assertAuditOk(t);
      await t.close();
    });

    const verify = (body: Record<string, unknown>, client = m.client) => client.post('/order/payer/verification', body);
    const info = (
      first = 'Alice',
      last = 'Ng',
      dob = '1990-04-01',
      extra: { category: string; value: string }[] = [],
    ) => [
      { category: 'FIRST_NAME', value: first },
      { category: 'LAST_NAME', value: last },
      { category: 'DATE_OF_BIRTH', value: dob },
      ...extra,
    ];

    test('§17.1 field rules: each refused with its code, nothing stored', async () => {
      const snap = await snap0(t);
      const cases: [string, Record<string, unknown>, string][] = [
        ['binanceId missing', { payerType: 'INDIVIDUAL' }, '400100'],
        ['binanceId empty', { binanceId: '', payerType: 'INDIVIDUAL' }, '400100'],
        ['binanceId not digits', { binanceId: 'abc', payerType: 'INDIVIDUAL' }, '400101'],
        ['payerType missing', { binanceId: alice.payerId }, '400100'],
        ['payerType unknown', { binanceId: alice.payerId, payerType: 'ROBOT' }, '400102'],
        ['information not a list', { binanceId: alice.payerId, payerType: 'INDIVIDUAL', information: 'x' }, '400100'],
        [
          'category missing',
          { binanceId: alice.payerId, payerType: 'INDIVIDUAL', information: [{ value: 'Alice' }] },
          '400100',
        ],
        [
          'category unknown',
          { binanceId: alice.payerId, payerType: 'INDIVIDUAL', information: [{ category: 'SHOE_SIZE', value: '9' }] },
          '400102',
        ],
        ['value empty', { binanceId: alice.payerId, payerType: 'INDIVIDUAL', information: info('') }, '400100'],
        [
          'value over 1024',
          { binanceId: alice.payerId, payerType: 'INDIVIDUAL', information: info('a'.repeat(1025)) },
          '400101',
        ],
        [
          'DATE_OF_BIRTH not YYYY-MM-DD',
          { binanceId: alice.payerId, payerType: 'INDIVIDUAL', information: info('Alice', 'Ng', '01/04/1990') },
          '400101',
        ],
        [
          'DATE_OF_BIRTH not a day',
          { binanceId: alice.payerId, payerType: 'INDIVIDUAL', information: info('Alice', 'Ng', '1990-02-30') },
          '400101',
        ],
        [
          'NATIONALITY not alpha-2',
          {
            binanceId: alice.payerId,
            payerType: 'INDIVIDUAL',
            information: info('Alice', 'Ng', '1990-04-01', [{ category: 'NATIONALITY', value: 'SGP' }]),
          },
          '400101',
        ],
        [
          'NATIONALITY no country',
          {
            binanceId: alice.payerId,
            payerType: 'INDIVIDUAL',
            information: info('Alice', 'Ng', '1990-04-01', [{ category: 'NATIONALITY', value: 'XX' }]),
          },
          '400101',
        ],
        [
          'DOCUMENT_TYPE unknown',
          {
            binanceId: alice.payerId,
            payerType: 'INDIVIDUAL',
            information: info('Alice', 'Ng', '1990-04-01', [{ category: 'DOCUMENT_TYPE', value: 'LIBRARY_CARD' }]),
          },
          '400102',
        ],
        [
          'a required category of INDIVIDUAL absent',
          {
            binanceId: alice.payerId,
            payerType: 'INDIVIDUAL',
            information: [{ category: 'FIRST_NAME', value: 'Alice' }],
          },
          '400100',
        ],
        [
          'a CORPORATE category for INDIVIDUAL',
          {
            binanceId: alice.payerId,
            payerType: 'INDIVIDUAL',
            information: info('Alice', 'Ng', '1990-04-01', [{ category: 'COMPANY_NAME', value: 'Acme' }]),
          },
          '400102',
        ],
        [
          'a category twice',
          {
            binanceId: alice.payerId,
            payerType: 'INDIVIDUAL',
            information: info('Alice', 'Ng', '1990-04-01', [{ category: 'FIRST_NAME', value: 'Alice' }]),
          },
          '400102',
        ],
        [
          'REGISTRATION_COUNTRY not a country',
          {
            binanceId: alice.payerId,
            payerType: 'CORPORATE',
            information: [
              { category: 'COMPANY_NAME', value: 'Acme' },
              { category: 'REGISTRATION_NUMBER', value: '123' },
              { category: 'REGISTRATION_COUNTRY', value: 'Z9' },
            ],
          },
          '400101',
        ],
        [
          'a required category of CORPORATE absent',
          {
            binanceId: alice.payerId,
            payerType: 'CORPORATE',
            information: [{ category: 'COMPANY_NAME', value: 'Acme' }],
          },
          '400100',
        ],
        ['unknown binanceId', { binanceId: '1000149999999', payerType: 'INDIVIDUAL' }, '400601'],
      ];
      for (const [name, body, code] of cases) {
        const r = await verify(body);
        assert.equal(r.json.code, code, `${name}: ${r.text}`);
        assert.equal(r.json.status, 'FAIL', name);
      }
      const unknown = await verify({ binanceId: '1000149999999', payerType: 'INDIVIDUAL' });
      assert.equal(unknown.json.errorMessage, 'account not found');
      assert.deepEqual(await snap0(t), snap);
    });

    test('§17.1 comparison: names trimmed and case-insensitive, dates exact, countries upper-case', async () => {
      const cases: [string, string, Record<string, unknown> | undefined, boolean][] = [
        ['exact', alice.payerId, { information: info() }, true],
        ['names trimmed and in any case', alice.payerId, { information: info('  aLiCe ', 'NG') }, true],
        ['another first name', alice.payerId, { information: info('Alicia') }, false],
        ['another last name', alice.payerId, { information: info('Alice', 'Ngo') }, false],
        ['date off by a day', alice.payerId, { information: info('Alice', 'Ng', '1990-04-02') }, false],
        [
          'nationality lower-case',
          alice.payerId,
          { information: info('Alice', 'Ng', '1990-04-01', [{ category: 'NATIONALITY', value: 'sg' }]) },
          true,
        ],
        [
          'another nationality',
          alice.payerId,
          { information: info('Alice', 'Ng', '1990-04-01', [{ category: 'NATIONALITY', value: 'MY' }]) },
          false,
        ],
        [
          'document type held',
          alice.payerId,
          { information: info('Alice', 'Ng', '1990-04-01', [{ category: 'DOCUMENT_TYPE', value: 'PASSPORT' }]) },
          true,
        ],
        [
          'another document type',
          alice.payerId,
          { information: info('Alice', 'Ng', '1990-04-01', [{ category: 'DOCUMENT_TYPE', value: 'ID_CARD' }]) },
          false,
        ],
        [
          'a document number the record does not hold',
          alice.payerId,
          { information: info('Alice', 'Ng', '1990-04-01', [{ category: 'DOCUMENT_NUMBER', value: 'E1234567' }]) },
          false,
        ],
        ['no information, approved KYC', alice.payerId, undefined, true],
        ['no information, KYC not approved', bob.payerId, undefined, false],
        ['matching data, KYC not approved', bob.payerId, { information: info('Bob', 'Lee', '1980-01-01') }, false],
        ['no KYC at all', carol.payerId, undefined, false],
      ];
      for (const [name, id, extra, expected] of cases) {
        const r = await verify({ binanceId: id, payerType: 'INDIVIDUAL', ...extra });
        assert.deepEqual(r.json, { status: 'SUCCESS', code: '000000', data: expected, errorMessage: null }, name);
      }
      // Nobody has an approved corporate KYC in Rampart.
      const corp = await verify({
        binanceId: alice.payerId,
        payerType: 'CORPORATE',
        information: [
          { category: 'COMPANY_NAME', value: 'Acme' },
          { category: 'REGISTRATION_NUMBER', value: '123' },
          { category: 'REGISTRATION_COUNTRY', value: 'SG' },
        ],
      });
      assert.equal(corp.json.data, false);
      assert.equal((await verify({ binanceId: alice.payerId, payerType: 'CORPORATE' })).json.data, false);
      // A JSON number binanceId is read losslessly.
      const asNumber = await m.client.post(
        '/order/payer/verification',
        `{"binanceId":${alice.payerId},"payerType":"INDIVIDUAL"}`,
      );
      assert.equal(asNumber.json.data, true, asNumber.text);
    });

    const share = (body: Record<string, unknown>, client = m.client) => client.post('/shareinfo/accountId', body);

    test("§17.2 field rules, and a sub-merchant that is not the caller's → 400206", async () => {
      const snap = await snap0(t);
      const cases: [string, Record<string, unknown>, string][] = [
        ['requestId missing', {}, '400100'],
        ['requestId empty', { requestId: '' }, '400100'],
        ['requestId over 32', { requestId: 'a'.repeat(33) }, '400101'],
        ['requestId with a dash', { requestId: 'a-b' }, '400101'],
        ['subMerchantId over 19', { requestId: rid(), subMerchantId: '1'.repeat(20) }, '400101'],
        ['subMerchantId not digits', { requestId: rid(), subMerchantId: 'x1' }, '400101'],
        ['webhookUrl not http(s)', { requestId: rid(), webhookUrl: 'ftp://x.example/h' }, '400101'],
        ['webhookUrl over 256', { requestId: rid(), webhookUrl: `https://x.example/${'a'.repeat(250)}` }, '400101'],
        ['unknown sub-merchant', { requestId: rid(), subMerchantId: '2107268400009999' }, '400206'],
      ];
      for (const [name, body, code] of cases) {
        const r = await share(body);
        assert.equal(r.json.code, code, `${name}: ${r.text}`);
      }
      assert.deepEqual(await snap0(t), snap);
    });

    test('§17.2 request: the data, idempotent by requestId (same → same, different → 400102)', async () => {
      const requestId = rid();
      const r = await share({ requestId });
      assert.equal(r.json.status, 'SUCCESS', r.text);
      const d = r.json.data;
      assert.match(r.text, new RegExp(`"merchantId":${m.merchantId}[,}]`));
      assert.match(d.id, /^\d{18,19}$/);
      assert.equal(d.requestId, requestId);
      assert.equal(d.expireTime, t.clock.now() + MIN15);
      assert.match(d.qrcodeContent, new RegExp(`^${t.baseUrl}/checkout/share-account/[a-z0-9]{24}$`));
      assert.equal(d.qrcodeUrl, `${d.qrcodeContent}/qr.png`);
      const again = await share({ requestId });
      assert.deepEqual(again.json.data, d);
      const other = await share({ requestId, webhookUrl: 'https://elsewhere.example/h' });
      assert.deepEqual(other.json, {
        status: 'FAIL',
        code: '400102',
        errorMessage: `requestId ${requestId} was already used with different parameters.`,
      });
      // Concurrent twins: one request.
      const twin = rid();
      const all = await Promise.all([1, 2, 3, 4].map(() => share({ requestId: twin })));
      assert.equal(new Set(all.map((x) => x.json.data.id)).size, 1);
      const png = await fetch(d.qrcodeUrl);
      assert.equal(png.headers.get('content-type'), 'image/png');
    });

    test('§17.2 decisions in every state: webhook on Agree only, verified; refusals change nothing', async () => {
      const verifier = createPayWebhookVerifier(m.client);
      const requestId = rid();
      const { id } = (await share({ requestId })).json.data;
      const decide = (email: string, decision: string, which = id) =>
        t.admin('POST', `/sandbox/v1/shareinfo/${which}/decision`, { payerEmail: email, decision });
      const agreed = await decide(alice.email, 'AGREE');
      assert.deepEqual(agreed.json, { id, requestId, status: 'AGREED' });
      await deliver();
      const got = await waitFor('SHARE_ACCOUNT_ID', () =>
        receiver.received.find((x) => x.body.toString('utf8').includes(`"bizIdStr":"${id}"`)),
      );
      const v = await verifier.verify(got.headers as any, got.body);
      assert.equal(v.bizType, 'SHARE_ACCOUNT_ID');
      assert.equal(v.bizStatus, 'SUCCESS');
      assert.equal(v.bizIdRaw, id);
      assert.deepEqual(v.data, { requestId, userBinanceId: alice.payerId, userName: null });
      assert.equal(v.dataText, `{"requestId":"${requestId}","userBinanceId":"${alice.payerId}","userName":null}`);

      // A declined request and an expired one.
      const declined = (await share({ requestId: rid() })).json.data.id;
      assert.equal((await decide(bob.email, 'DECLINE', declined)).json.status, 'DECLINED');
      const expired = (await share({ requestId: rid() })).json.data.id;
      t.clock.advance!(MIN15);
      await deliver();
      const before = receiver.received.length;
      const snap = await snap0(t);
      // Every action in every state that does not apply: refused (409), nothing changes, nothing is sent.
      const refusals: [string, string, string, string][] = [
        ['agreed, declined by the same user', id, alice.email, 'DECLINE'],
        ['agreed, agreed by another user', id, bob.email, 'AGREE'],
        ['agreed, declined by another user', id, bob.email, 'DECLINE'],
        ['declined, agreed by the same user', declined, bob.email, 'AGREE'],
        ['declined, agreed by another user', declined, alice.email, 'AGREE'],
        ['declined, declined by another user', declined, alice.email, 'DECLINE'],
        ['expired, agreed', expired, alice.email, 'AGREE'],
        ['expired, declined', expired, alice.email, 'DECLINE'],
      ];
      for (const [name, which, email, decision] of refusals) {
        const r = await decide(email, decision, which);
        assert.equal(r.status, 409, `${name}: ${JSON.stringify(r.json)}`);
      }
      // The same answer again by the same user is the answer already given (a double click), without a second webhook.
      assert.equal((await decide(alice.email, 'AGREE')).json.status, 'AGREED');
      assert.equal((await decide(bob.email, 'DECLINE', declined)).json.status, 'DECLINED');
      assert.equal((await decide(alice.email, 'AGREE', '123456789012345678')).status, 404);
      assert.equal((await decide('nobody@example.com', 'AGREE')).status, 404);
      await deliver();
      assert.deepEqual(await snap0(t), snap);
      assert.equal(receiver.received.length, before);
    });

    test('§17.2 concurrent answers to one request: exactly one applies, at most one webhook', async () => {
      const { id } = (await share({ requestId: rid() })).json.data;
      const answers = await Promise.all([
        t.admin('POST', `/sandbox/v1/shareinfo/${id}/decision`, { payerEmail: alice.email, decision: 'AGREE' }),
        t.admin('POST', `/sandbox/v1/shareinfo/${id}/decision`, { payerEmail: bob.email, decision: 'AGREE' }),
        t.admin('POST', `/sandbox/v1/shareinfo/${id}/decision`, { payerEmail: carol.email, decision: 'DECLINE' }),
      ]);
      assert.equal(answers.filter((a) => a.status === 200).length, 1);
      const n = (await t.db.query(`SELECT count(*)::int AS n FROM outbox WHERE payload->>'bizId' = $1`, [id])).rows[0]
        .n;
      const won = answers.find((a) => a.status === 200)!.json.status;
      assert.equal(n, won === 'AGREED' ? 1 : 0);
    });

    test('feature gates: payerVerification and shareAccountId off → 400203', async () => {
      const mm = await createMerchant(t, { name: 'Gated Shop' });
      const p = await t.admin('PATCH', `/admin/v1/merchants/${mm.merchantId}`, {
        features: { payerVerification: false, shareAccountId: false },
      });
      assert.equal(p.status, 200, JSON.stringify(p.json));
      const snap = await snap0(t);
      const a = await verify({ binanceId: alice.payerId, payerType: 'INDIVIDUAL' }, mm.client);
      assert.equal(a.json.code, '400203', a.text);
      const b = await share({ requestId: rid() }, mm.client);
      assert.equal(b.json.code, '400203', b.text);
      assert.deepEqual(await snap0(t), snap);
    });

    describe('TSP', () => {
      let tsp: Tsp;
      before(async () => {
        tsp = await createTsp(t);
      });
      after(async () => {
        await tsp?.receiver.close();
      });

      test('with CHECKOUT: acts for the merchant; webhook to the TSP; other scopes and other IPs → 400004', async () => {
        const mm = await createMerchant(t, { name: 'TSP Client Shop' });
        const a = await authorize(t, tsp, mm.merchantId, ['CHECKOUT']);
        const v = await tsp.client.post('/order/payer/verification', {
          [FIELD]: a.authorizationToken,
          binanceId: alice.payerId,
          payerType: 'INDIVIDUAL',
        });
        assert.equal(v.json.data, true, v.text);
        const requestId = rid();
        const s = await tsp.client.post('/shareinfo/accountId', { [FIELD]: a.authorizationToken, requestId });
        assert.equal(s.json.status, 'SUCCESS', s.text);
        assert.match(s.text, new RegExp(`"merchantId":${mm.merchantId}[,}]`));
        const row = (
          await t.db.query(`SELECT creator_merchant_id::text AS c FROM pay_share_requests WHERE id = $1`, [
            s.json.data.id,
          ])
        ).rows[0];
        assert.equal(row.c, tsp.merchantId);

        const other = await authorize(t, tsp, mm.merchantId, ['REFUND']);
        const fenced = await authorize(t, tsp, mm.merchantId, ['CHECKOUT'], ['10.1.2.3']);
        const snap = await snap0(t);
        for (const path of ['/order/payer/verification', '/shareinfo/accountId']) {
          const body = { binanceId: alice.payerId, payerType: 'INDIVIDUAL', requestId: rid() };
          const x = await tsp.client.post(path, { [FIELD]: other.authorizationToken, ...body });
          assert.equal(x.json.code, '400004', `${path}: ${x.text}`);
          const y = await tsp.client.post(path, { [FIELD]: fenced.authorizationToken, ...body });
          assert.deepEqual(y.json, {
            status: 'FAIL',
            code: '400004',
            errorMessage: 'IP is not in the authorization whitelist.',
          });
        }
        assert.deepEqual(await snap0(t), snap);
      });
    });
  });
}
