import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertAuditOk,
  createMerchant,
  DB_KINDS,
  snapshot,
  startTestApp,
  v3Order,
  waitForOutbox,
  type TestApp,
} from './helpers.ts';
import { authorize, createAuthorization, createTsp, decide, type Tsp } from './tsp-support.ts';

/**
 * The TSP endpoints of binance-pay.md §7.1, §7.2, §7.6 with every result code, and the authorization lifecycle (§7.3).
 */
for (const kind of DB_KINDS) {
  describe(`TSP API (${kind})`, () => {
    let t: TestApp;
    let tsp: Tsp;
    let plain: Awaited<ReturnType<typeof createMerchant>>;

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      tsp = await createTsp(t, { allowScopes: ['CHECKOUT', 'REFUND', 'BALANCE', 'CONVERT'] });
      plain = await createMerchant(t, { name: 'Merchant One' });
    });
    after(async () => {
      await tsp?.receiver.close();
      await assertAuditOk(t);
      await t.close();
    });

    test('config/query returns the allowed scopes; empty, {} and [] bodies; non-TSP 400203; a token 400102', async () => {
      for (const body of ['', '{}', '[]']) {
        const r = await tsp.client.post('/service/provider/config/query', undefined, { rawBody: body });
        assert.equal(
          r.text,
          '{"status":"SUCCESS","code":"000000","data":{"allowFeeShare":false,"allowScopes":["CHECKOUT","REFUND",' +
            '"BALANCE","CONVERT"]},"errorMessage":null}',
        );
      }
      const r2 = await plain.client.post('/service/provider/config/query', {});
      assert.deepEqual(r2.json, {
        status: 'FAIL',
        code: '400203',
        errorMessage: 'Not support for this account, please check account status.',
      });
      const r3 = await tsp.client.post('/service/provider/config/query', {
        'BinancePay-technicalServiceProviderAuthId': 'abc',
      });
      assert.equal(r3.json.code, '400102');
      const r4 = await tsp.client.post(
        '/service/provider/config/query',
        {},
        { headers: { 'BinancePay-technicalServiceProviderAuthId': 'abc' } },
      );
      assert.equal(r4.json.code, '400102');
    });

    test(
      'create returns every field; scopes deduplicated, "" IPs dropped; ids are strings; the token is kept hashed ' +
        'and encrypted',
      async () => {
        const m = await createMerchant(t, { name: 'Merchant Two' });
        const r = await tsp.client.post('/service/provider/create', {
          merchantId: m.merchantId,
          scopes: ['CHECKOUT', 'CONVERT', 'CHECKOUT'],
          ipWhitelist: ['', '192.168.1.1', '10.0.0.0/8'],
        });
        assert.equal(r.json.status, 'SUCCESS', r.text);
        const d = r.json.data;
        assert.deepEqual(Object.keys(d), [
          'authorizationId',
          'merchantName',
          'authorizationToken',
          'merchantId',
          'status',
          'redirectUrl',
          'scopes',
          'ipWhitelist',
        ]);
        assert.match(d.authorizationId, /^\d{18,19}$/);
        assert.match(r.text, new RegExp(`"authorizationId":"${d.authorizationId}"`));
        assert.equal(d.merchantName, 'Merchant Two');
        assert.match(d.authorizationToken, /^[0-9a-f]{32}$/);
        assert.equal(d.merchantId, m.merchantId);
        assert.equal(d.status, 'PENDING');
        assert.equal(d.redirectUrl, `${t.baseUrl}/en/dashboard/review-authorization?authId=${d.authorizationId}`);
        assert.deepEqual(d.scopes, ['CHECKOUT', 'CONVERT']);
        assert.deepEqual(d.ipWhitelist, ['192.168.1.1', '10.0.0.0/8']);
        assert.equal(r.json.errorMessage, null);

        // Merchant id as a JSON number is accepted and echoed as a string.
        const r2 = await tsp.client.post(
          '/service/provider/create',
          `{"merchantId":${m.merchantId},"scopes":["BALANCE"],"ipWhitelist":["",""]}`,
        );
        assert.equal(r2.json.status, 'SUCCESS', r2.text);
        assert.equal(r2.json.data.merchantId, m.merchantId);
        assert.deepEqual(r2.json.data.ipWhitelist, []);
        // The second request replaced the first (one PENDING per TSP and merchant, issue 13), which the TSP is told.
        await tsp.webhook(d.authorizationId, 'SUBMIT_AUTH_REJECT');
        await waitForOutbox(t, ['webhook']);

        const rows = (await t.db.query(`SELECT * FROM tsp_authorizations WHERE id = $1`, [d.authorizationId])).rows;
        assert.equal(rows.length, 1);
        assert.ok(
          !JSON.stringify(rows[0], (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes(d.authorizationToken),
          'token not stored in clear',
        );
      },
    );

    test('create result codes: 400100, 400101, 400102, 406210, 400203, 400008 — and nothing is stored', async () => {
      const m = await createMerchant(t, { name: 'Merchant Three' });
      const before = await snapshot(t.db);
      const cases: [unknown, string, RegExp?][] = [
        [{ scopes: ['CHECKOUT'], ipWhitelist: [] }, '400100', /^merchantId: /],
        [{ merchantId: '', scopes: ['CHECKOUT'], ipWhitelist: [] }, '400100'],
        [{ merchantId: null, scopes: ['CHECKOUT'], ipWhitelist: [] }, '400100'],
        [{ merchantId: m.merchantId, ipWhitelist: [] }, '400100', /^scopes: /],
        [{ merchantId: m.merchantId, scopes: [], ipWhitelist: [] }, '400100'],
        [{ merchantId: m.merchantId, scopes: 'CHECKOUT', ipWhitelist: [] }, '400100'],
        [{ merchantId: m.merchantId, scopes: ['CHECKOUT'] }, '400100', /^ipWhitelist: /],
        [{ merchantId: m.merchantId, scopes: ['CHECKOUT'], ipWhitelist: ['300.1.1.1'] }, '400101'],
        [{ merchantId: m.merchantId, scopes: ['CHECKOUT'], ipWhitelist: ['not-an-ip'] }, '400101'],
        [
          {
            merchantId: m.merchantId,
            scopes: ['CHECKOUT'],
            ipWhitelist: Array.from({ length: 51 }, (_, i) => `10.0.0.${i}`),
          },
          '400101',
        ],
        [{ merchantId: 'x'.repeat(40), scopes: ['CHECKOUT'], ipWhitelist: [] }, '400101'],
        [{ merchantId: m.merchantId, scopes: ['PAYOUT'], ipWhitelist: [] }, '400102', /PAYOUT/],
        [{ merchantId: m.merchantId, scopes: ['CHECKOUT', 'NOT_A_SCOPE'], ipWhitelist: [] }, '400102'],
        [{ merchantId: '9999999999999', scopes: ['CHECKOUT'], ipWhitelist: [] }, '406210', /^Invalid merchant id$/],
        [{ merchantId: 'merchant1', scopes: ['CHECKOUT'], ipWhitelist: [] }, '406210'],
        [{ merchantId: tsp.merchantId, scopes: ['CHECKOUT'], ipWhitelist: [] }, '406210'],
        [
          {
            merchantId: m.merchantId,
            scopes: ['CHECKOUT'],
            ipWhitelist: [],
            'BinancePay-technicalServiceProviderAuthId': 'x',
          },
          '400102',
        ],
        ['{"merchantId":', '400008'],
      ];
      for (const [body, code, message] of cases) {
        const r = await tsp.client.post('/service/provider/create', body);
        assert.equal(r.status, 200);
        assert.equal(r.json.status, 'FAIL', `${JSON.stringify(body)} → ${r.text}`);
        assert.equal(r.json.code, code, `${JSON.stringify(body)} → ${r.text}`);
        assert.equal('data' in r.json, false);
        if (message) assert.match(r.json.errorMessage, message);
      }
      const nonTsp = await plain.client.post('/service/provider/create', {
        merchantId: m.merchantId,
        scopes: ['CHECKOUT'],
        ipWhitelist: [],
      });
      assert.equal(nonTsp.json.code, '400203');
      assert.deepEqual(await snapshot(t.db), before);
    });

    test('record pages newest first with total and a merchant filter; record/get by id or merchant; every code', async () => {
      const tsp2 = await createTsp(t, { name: 'Second TSP' });
      try {
        const m1 = await createMerchant(t, { name: 'Rec One' });
        const m2 = await createMerchant(t, { name: 'Rec Two' });
        const a1 = await createAuthorization(tsp2, m1.merchantId, ['CHECKOUT']);
        const a2 = await authorize(t, tsp2, m1.merchantId, ['BALANCE'], ['127.0.0.1']);
        const a3 = await createAuthorization(tsp2, m2.merchantId, ['REFUND']);

        const all = await tsp2.client.post('/service/provider/record', { page: 1, rows: 10 });
        assert.equal(all.json.status, 'SUCCESS', all.text);
        assert.match(all.text, /"total":3,/);
        assert.deepEqual(
          all.json.data.rows.map((r: any) => r.authorizationId),
          [a3.authorizationId, a2.authorizationId, a1.authorizationId],
        );
        assert.deepEqual(all.json.data.rows[1], {
          authorizationId: a2.authorizationId,
          merchantName: 'Rec One',
          authorizationToken: a2.authorizationToken,
          merchantId: m1.merchantId,
          status: 'AUTHORIZED',
          scopes: ['BALANCE'],
          ipWhitelist: ['127.0.0.1'],
        });
        const page2 = await tsp2.client.post('/service/provider/record', { page: '2', rows: '2' });
        assert.deepEqual(
          page2.json.data.rows.map((r: any) => r.authorizationId),
          [a1.authorizationId],
        );
        assert.equal(page2.json.data.total, 3);
        const filtered = await tsp2.client.post('/service/provider/record', {
          page: 1,
          rows: 10,
          merchantId: m2.merchantId,
        });
        assert.deepEqual(
          filtered.json.data.rows.map((r: any) => r.authorizationId),
          [a3.authorizationId],
        );
        // The first TSP sees none of these.
        const other = await tsp.client.post('/service/provider/record', {
          page: 1,
          rows: 10,
          merchantId: m1.merchantId,
        });
        assert.equal(other.json.data.total, 0);

        for (const [body, code] of [
          [{ rows: 10 }, '400100'],
          [{ page: 1 }, '400100'],
          [{ page: 'x', rows: 10 }, '400101'],
          [{ page: 0, rows: 10 }, '400102'],
          [{ page: 1, rows: 11 }, '400102'],
          [{ page: 1, rows: 0 }, '400102'],
          [{ page: 1.5, rows: 1 }, '400101'],
        ] as const) {
          const r = await tsp2.client.post('/service/provider/record', body);
          assert.equal(r.json.code, code, `${JSON.stringify(body)} → ${r.text}`);
        }
        assert.equal((await plain.client.post('/service/provider/record', { page: 1, rows: 10 })).json.code, '400203');

        const byId = await tsp2.client.post('/service/provider/record/get', { authorizationId: a1.authorizationId });
        assert.equal(byId.json.data.authorizationId, a1.authorizationId);
        // a2's request replaced the pending a1: one PENDING per (TSP, merchant) (issue 13).
        assert.equal(byId.json.data.status, 'REJECTED');
        // By merchant: the AUTHORIZED one wins over the newer PENDING one.
        await createAuthorization(tsp2, m1.merchantId, ['CHECKOUT']);
        const byMerchant = await tsp2.client.post('/service/provider/record/get', { merchantId: m1.merchantId });
        assert.equal(byMerchant.json.data.authorizationId, a2.authorizationId);
        const none = await tsp2.client.post('/service/provider/record/get', { merchantId: plain.merchantId });
        assert.equal(none.text, '{"status":"SUCCESS","code":"000000","data":null,"errorMessage":null}');
        const foreign = await tsp.client.post('/service/provider/record/get', {
          authorizationId: a1.authorizationId,
        });
        assert.equal(foreign.json.data, null);
        assert.equal((await tsp2.client.post('/service/provider/record/get', {})).json.code, '400100');
        assert.equal(
          (await tsp2.client.post('/service/provider/record/get', { authorizationId: 'abc' })).json.code,
          '400101',
        );
        assert.equal(
          (await tsp2.client.post('/service/provider/record/get', { merchantId: '9999999999999' })).json.code,
          '406210',
        );
        assert.equal(
          (await plain.client.post('/service/provider/record/get', { merchantId: m1.merchantId })).json.code,
          '400203',
        );
        assert.equal(
          (
            await tsp2.client.post('/service/provider/record/get', {
              merchantId: m1.merchantId,
              'BinancePay-technicalServiceProviderAuthId': a2.authorizationToken,
            })
          ).json.code,
          '400102',
        );
      } finally {
        await tsp2.receiver.close();
      }
    });

    test(
      'the authorization token in a TECH_PROVIDER webhook is stored sealed and redacted from the delivery log, ' +
        'and still reaches the TSP',
      async () => {
        const m = await createMerchant(t, { name: 'Sealed Co' });
        const a = await createAuthorization(tsp, m.merchantId, ['BALANCE']);
        assert.equal((await decide(t, a.authorizationId, 'AGREE')).json.status, 'AUTHORIZED');
        const w = await tsp.webhook(a.authorizationId, 'SUBMIT_AUTH_AGREE');
        assert.equal(JSON.parse(w.dataText).authorizationToken, a.authorizationToken, 'the TSP receives the token');
        const stored = (
          await t.db.query(`SELECT payload::text AS p FROM outbox WHERE topic = 'webhook' AND payload::text LIKE $1`, [
            `%${a.authorizationId}%`,
          ])
        ).rows;
        assert.ok(stored.length >= 1);
        for (const r of stored) assert.ok(!r.p.includes(a.authorizationToken), 'not in clear in the outbox');
        const log = await t.admin('GET', '/admin/v1/webhooks/deliveries?limit=500');
        const mine = log.json.deliveries.filter((d: any) => d.bizId === a.authorizationId);
        assert.ok(mine.length >= 1);
        for (const d of mine) {
          assert.ok(!JSON.stringify(d).includes(a.authorizationToken), 'not in the delivery log');
          assert.match(d.body, /"authorizationToken\\":\\"\[redacted\]\\"/);
        }
      },
    );

    test(
      'agree sends SUBMIT_AUTH_AGREE with the token (signed, bizId raw) and emails the TSP; reject sends ' +
        'SUBMIT_AUTH_REJECT; decided requests stay decided',
      async () => {
        const m = await createMerchant(t, { name: 'Agree Co' });
        const a = await createAuthorization(tsp, m.merchantId, ['CHECKOUT', 'CONVERT']);
        const d = await decide(t, a.authorizationId, 'AGREE');
        assert.equal(d.json.status, 'AUTHORIZED');
        const w = await tsp.webhook(a.authorizationId, 'SUBMIT_AUTH_AGREE');
        assert.equal(w.bizType, 'TECH_PROVIDER');
        assert.equal(w.bizIdRaw, a.authorizationId);
        assert.equal(
          w.dataText,
          `{"authorizationId":"${a.authorizationId}","authorizationToken":"${a.authorizationToken}",` +
            `"merchantId":${m.merchantId},"merchantName":"Agree Co","scopes":["CHECKOUT","CONVERT"]}`,
        );
        const mails = await t.app.services.mailer.list(tsp.email);
        assert.ok(
          mails.some(
            (x) => x.subject === 'Agree Co approved your authorization request' && x.text.includes(a.authorizationId),
          ),
          JSON.stringify(mails),
        );

        const again = await decide(t, a.authorizationId, 'REJECT');
        assert.equal(again.status, 409);

        const b = await createAuthorization(tsp, m.merchantId, ['BALANCE']);
        assert.equal((await decide(t, b.authorizationId, 'REJECT')).json.status, 'REJECTED');
        const wr = await tsp.webhook(b.authorizationId, 'SUBMIT_AUTH_REJECT');
        assert.equal(JSON.parse(wr.dataText).authorizationToken, b.authorizationToken);
        assert.ok(
          (await t.app.services.mailer.list(tsp.email)).some(
            (x) => x.subject === 'Agree Co rejected your authorization request',
          ),
        );
        assert.equal((await decide(t, b.authorizationId, 'AGREE')).status, 409);
        assert.equal((await decide(t, '123456789012345678', 'AGREE')).status, 404);

        // A newer approval replaces the older one: at most one AUTHORIZED per pair, the old one gets TP_AUTH_DISABLED.
        const c = await authorize(t, tsp, m.merchantId, ['CHECKOUT']);
        await tsp.webhook(a.authorizationId, 'TP_AUTH_DISABLED');
        const rec = await tsp.client.post('/service/provider/record/get', { authorizationId: a.authorizationId });
        assert.equal(rec.json.data.status, 'DISABLED');
        const order = await tsp.client.post('/v3/order', {
          'BinancePay-technicalServiceProviderAuthId': a.authorizationToken,
          ...v3Order(),
        });
        assert.equal(order.json.code, '400004');
        const ok = await tsp.client.post('/v3/order', {
          'BinancePay-technicalServiceProviderAuthId': c.authorizationToken,
          ...v3Order(),
        });
        assert.equal(ok.json.status, 'SUCCESS', ok.text);
      },
    );

    test(
      'one PENDING request per (TSP, merchant): the same request again returns it, a different one replaces it ' +
        '(SUBMIT_AUTH_REJECT)',
      async () => {
        const m = await createMerchant(t, { name: 'Once Co' });
        const a = await createAuthorization(tsp, m.merchantId, ['CHECKOUT', 'REFUND'], ['10.0.0.1']);
        const retry = await createAuthorization(tsp, m.merchantId, ['REFUND', 'CHECKOUT'], ['10.0.0.1']);
        assert.equal(retry.authorizationId, a.authorizationId, 'a retry of the same request is the pending one');
        assert.equal(retry.authorizationToken, a.authorizationToken);
        const b = await createAuthorization(tsp, m.merchantId, ['BALANCE']);
        assert.notEqual(b.authorizationId, a.authorizationId);
        await tsp.webhook(a.authorizationId, 'SUBMIT_AUTH_REJECT');
        assert.equal((await t.app.services.tsp.get(a.authorizationId))!.status, 'REJECTED');
        assert.equal(
          (await decide(t, a.authorizationId, 'AGREE')).status,
          409,
          'the replaced request cannot be approved',
        );
        const pending = (
          await t.db.query(`SELECT id FROM tsp_authorizations WHERE merchant_id = $1 AND status = 'PENDING'`, [
            m.merchantId,
          ])
        ).rows;
        assert.deepEqual(
          pending.map((r) => String(r.id)),
          [b.authorizationId],
        );
        // Concurrent creates still leave one PENDING.
        await Promise.all(
          ['CHECKOUT', 'REFUND', 'CONVERT', 'BALANCE'].map((s) =>
            tsp.client.post('/service/provider/create', { merchantId: m.merchantId, scopes: [s], ipWhitelist: [] }),
          ),
        );
        assert.equal(
          (
            await t.db.query(
              `SELECT count(*)::int AS n FROM tsp_authorizations WHERE merchant_id = $1 AND status = 'PENDING'`,
              [m.merchantId],
            )
          ).rows[0].n,
          1,
        );
      },
    );

    test(
      'rate limit: at most 60 requests per TSP per hour (400203, checked before the merchant id, nothing stored); ' +
        'the next hour works again',
      async () => {
        const tsp3 = await createTsp(t, { name: 'Busy TSP', allowScopes: ['CHECKOUT', 'BALANCE'] });
        try {
          const m = await createMerchant(t, { name: 'Walked Co' });
          for (let i = 0; i < 60; i++) {
            const r = await tsp3.client.post('/service/provider/create', {
              merchantId: m.merchantId,
              scopes: [i % 2 ? 'CHECKOUT' : 'BALANCE'],
              ipWhitelist: [],
            });
            assert.equal(r.json.status, 'SUCCESS', `${i}: ${r.text}`);
          }
          const count = async () =>
            (
              await t.db.query(`SELECT count(*)::int AS n FROM tsp_authorizations WHERE tsp_merchant_id = $1`, [
                tsp3.merchantId,
              ])
            ).rows[0].n;
          const limited = {
            status: 'FAIL',
            code: '400203',
            errorMessage: 'Too many authorization requests: at most 60 per hour. Try again later.',
          };
          for (const merchantId of [m.merchantId, plain.merchantId, '9999999999999']) {
            const r = await tsp3.client.post('/service/provider/create', {
              merchantId,
              scopes: ['CHECKOUT'],
              ipWhitelist: [],
            });
            assert.deepEqual(r.json, limited, `${merchantId}: ${r.text}`);
          }
          assert.equal(await count(), 60);
          // Other TSPs are not affected.
          assert.equal(
            (
              await tsp.client.post('/service/provider/create', {
                merchantId: m.merchantId,
                scopes: ['CHECKOUT'],
                ipWhitelist: [],
              })
            ).json.status,
            'SUCCESS',
          );
          (t.clock as any).advance(3_600_000);
          const later = await tsp3.client.post('/service/provider/create', {
            merchantId: plain.merchantId,
            scopes: ['CHECKOUT'],
            ipWhitelist: [],
          });
          assert.equal(later.json.status, 'SUCCESS', later.text);
        } finally {
          await tsp3.receiver.close();
        }
      },
    );

    test('an unreviewed request is rejected after 24 hours (SUBMIT_AUTH_REJECT) and can no longer be approved', async () => {
      const m = await createMerchant(t, { name: 'Slow Co' });
      const a = await createAuthorization(tsp, m.merchantId, ['CHECKOUT']);
      (t.clock as any).advance(24 * 3_600_000 + 1000);
      {
        const d = await decide(t, a.authorizationId, 'AGREE');
        assert.equal(d.status, 409);
        // The expiry worker may already have rejected it (AUTH_NOT_PENDING); either way it cannot be approved.
        assert.ok(['AUTH_EXPIRED', 'AUTH_NOT_PENDING'].includes(d.json.error.code), d.json.error.code);
        await t.app.services.tsp.expireDue();
        await tsp.webhook(a.authorizationId, 'SUBMIT_AUTH_REJECT');
        const rec = await tsp.client.post('/service/provider/record/get', { authorizationId: a.authorizationId });
        assert.equal(rec.json.data.status, 'REJECTED');
      }
    });
  });
}
