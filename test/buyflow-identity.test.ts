import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { checkLimitLocked } from '../src/connect/buyflow/limits.ts';
import { kycSignature } from '../src/kyc/auth.ts';
import { migrate } from '../src/platform/db/client.ts';
import { DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { buyflowFixture, kycInput, PNG } from './support/buyflow-fixture.ts';
import { onboardPartner } from './support/connect-client.ts';

/**
 * Issue #12, facilitated KYC and restricted countries: a broker-shared passed KYC record verifies one buy-flow
 * account (the first that binds it) and the daily limit is the identity's; residence, nationality and ID country on
 * CONNECT_RESTRICTED_COUNTRIES are refused at KYC submit and fail the order REGION_RESTRICTED.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of DB_KINDS) {
  describe(`buy-flow identity and restricted countries (${kind})`, () => {
    let t: TestApp;
    let partner: Awaited<ReturnType<typeof onboardPartner>>;
    let broker: { bizEntityKey: string; secret: string };
    let images: http.Server;
    before(async () => {
      t = await startTestApp({
        kind,
        env: { CONNECT_RATE_PER_SECOND: '100000', CONNECT_RESTRICTED_COUNTRIES: 'KP,IR' },
      });
      partner = await onboardPartner(t);
      const br = await t.admin('POST', '/admin/v1/brokers', {
        name: 'Acme broker',
        partialSharing: false,
        ipWhitelist: ['127.0.0.1'],
      });
      assert.equal(br.status, 201, JSON.stringify(br.json));
      broker = { bizEntityKey: br.json.bizEntityKey, secret: br.json.secret };
      assert.equal(
        (
          await t.admin('PATCH', `/admin/v1/brokers/${broker.bizEntityKey}`, {
            connectPartnerCode: partner.merchantCode,
          })
        ).status,
        200,
      );
      images = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
      await new Promise<void>((r) => images.listen(0, '127.0.0.1', r));
    });
    after(async () => {
      images.closeAllConnections();
      await new Promise((r) => images.close(r));
      await t.close();
    });
    const bf = () => t.app.services.buyflow;

    let seq = 0;
    const { newOrder, newUser } = buyflowFixture(
      () => t,
      () => partner,
    );
    /** A user with an order of `merchantUserId` attached (the buy-flow page attaches it on the first visit). */
    async function userWithOrder(merchantUserId?: string, p = partner) {
      const u = await newUser();
      const o = await newOrder('100', merchantUserId ? { merchantUserId } : {}, p);
      assert.ok((await bf().attach(o.order, u.id)).ok);
      return { u, ...o };
    }
    const kycForm = kycInput;
    const userRow = async (id: string) => (await t.db.query(`SELECT * FROM buyflow_users WHERE id = $1`, [id])).rows[0];

    /**
     * The broker shares `entityCustomerId`'s KYC through the real signed API, the worker fetches the documents, the
     * operator passes it.
     */
    async function sharedPassed(entityCustomerId: string, country = 'AE'): Promise<string> {
      const img = (p: string) => `http://127.0.0.1:${(images.address() as AddressInfo).port}${p}`;
      const n = `${Date.now()}${++seq}`;
      const body = JSON.stringify({
        bizEntityKey: broker.bizEntityKey,
        requestNo: `R${n}`,
        kycInfo: {
          userInfo: {
            bizEntityKey: broker.bizEntityKey,
            entityCustomerId,
            brokerMainAccountId: '1234567',
            brokerSubAccountId: n,
            notifyUrl: '.',
          },
          basicInfo: {
            firstName: 'Alice',
            lastName: 'Smith',
            country,
            residentialCountry: country,
            dob: '1999-09-19',
            userSubmitIp: '192.168.1.1',
            address: 'aaa',
            city: 'bbb',
            postalCode: '123456',
          },
          identityInfo: {
            documentType: 'ID_CARD',
            selectCountry: country,
            frontFileUrl: img('/front.png'),
            faceFileUrl: img('/face.png'),
            firstName: 'Alice',
            lastName: 'Smith',
            dob: '1999-09-19',
            idType: 'ID_CARD',
            idCountry: country,
            nationalityCountry: country,
            idNumber: `ID${n}`,
            idExpiry: '2035-09-19',
            userSubmitIp: '192.168.1.1',
            issuingDate: '2010-09-19',
            gender: 'F',
          },
        },
      });
      const shared = await fetch(`${t.baseUrl}/bapi/ekyc/v2/public/ekyc/customer/share-kyc-data`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-SHA2-Signature': kycSignature(broker.secret, body) },
        body,
      });
      assert.equal((await shared.json()).success, true);
      let entry: any;
      for (let i = 0; i < 100 && !entry; i++) {
        await t.app.outboxWorker.runOnce();
        entry = (await t.admin('GET', '/admin/v1/kyc?status=REVIEW')).json.find(
          (x: any) => x.entityCustomerId === entityCustomerId,
        );
        if (!entry) await sleep(50);
      }
      assert.ok(entry, 'the share reached the review queue');
      assert.equal((await t.admin('POST', `/admin/v1/kyc/${entry.id}/decision`, { decision: 'PASS' })).status, 200);
      return String(entry.id);
    }

    test(
      "facilitated KYC: the countries the broker's record attests decide the region (a restricted one fails the " +
        'order REGION_RESTRICTED); a bound account gets them, so it can add a card, and cannot replace them by ' +
        'submitting its own KYC',
      async () => {
        await sharedPassed('kp-1', 'KP');
        const kp = await userWithOrder('kp-1');
        assert.equal((await bf().kycState(kp.u, kp.order)).state, 'RESTRICTED');
        assert.equal((await bf().getUser(kp.u.id))!.kycLevel, 'NONE', 'not bound, not verified');
        const q = (await partner.client.call('query-order-list', { orderId: kp.order.orderId })).json.data[0];
        assert.deepEqual([q.orderSubStatus, q.errorCode], ['FAILED', 'REGION_RESTRICTED']);

        await sharedPassed('ae-1', 'AE');
        const ae = await userWithOrder('ae-1');
        assert.equal((await bf().kycState(ae.u, ae.order)).state, 'VERIFIED');
        const row = await userRow(ae.u.id);
        assert.deepEqual(
          [row.country, row.nationality, row.id_country],
          ['AE', 'AE', 'AE'],
          'the attested countries, not a declaration',
        );
        const verified = (await bf().getUser(ae.u.id))!;
        assert.ok(
          (
            await bf().addCard(verified, {
              name: 'Alice Smith',
              number: '4242424242424242',
              expiry: '12/34',
              cvv: '123',
            })
          ).ok,
          'AE cards are supported: no dead end',
        );
        const again = await bf().submitKyc(verified, ae.order, kycForm('FR'));
        assert.equal(!again.ok && again.code, 'ALREADY_VERIFIED');
        assert.equal((await userRow(ae.u.id)).country, 'AE', 'unchanged');
      },
    );

    test(
      'a broker-shared passed KYC verifies the first account that binds it; another account with the same ' +
        'merchantUserId does its own KYC, and the operator sees the attempt',
      async () => {
        const record = await sharedPassed('ident-1');
        const a = await userWithOrder('ident-1');
        assert.equal((await bf().kycState(a.u, a.order)).state, 'VERIFIED');
        assert.deepEqual(
          [(await bf().getUser(a.u.id))!.kycLevel, (await bf().getUser(a.u.id))!.kycSource],
          ['VERIFIED', 'shared'],
        );

        const b = await userWithOrder('ident-1');
        assert.equal((await bf().kycState(b.u, b.order)).state, 'NEEDED', "the shared identity is the first account's");
        assert.equal((await bf().kycState(b.u, b.order)).state, 'NEEDED');
        const rowB = await userRow(b.u.id);
        assert.deepEqual([rowB.kyc_level, rowB.kyc_source, rowB.kyc_record_id], ['NONE', null, null]);
        const again = await newOrder('100', { merchantUserId: 'ident-1' });
        assert.equal((await bf().kycState(a.u, again.order)).state, 'VERIFIED', 'the bound account keeps it');

        const seen = await t.admin('GET', `/admin/v1/connect/identity-conflicts?kycUserId=${record}`);
        assert.equal(seen.status, 200, JSON.stringify(seen.json));
        assert.equal(seen.json.length, 1);
        assert.deepEqual(
          { ...seen.json[0], firstAt: undefined, lastAt: undefined },
          {
            kycUserId: record,
            bizEntityKey: broker.bizEntityKey,
            entityCustomerId: 'ident-1',
            boundUserId: a.u.id,
            boundIdentifier: a.u.identifier,
            userId: b.u.id,
            identifier: b.u.identifier,
            partnerCode: partner.merchantCode,
            merchantUserId: 'ident-1',
            detectedBy: 'buyflow',
            attempts: 2,
            firstAt: undefined,
            lastAt: undefined,
          },
        );
        assert.ok(
          (await t.admin('GET', '/admin/v1/connect/identity-conflicts')).json.some((c: any) => c.userId === b.u.id),
          'in the full list too',
        );
        const anon = await fetch(`${t.baseUrl}/admin/v1/connect/identity-conflicts`);
        await anon.text();
        assert.equal(anon.status, 401);

        // B's own KYC is B's own identity.
        assert.ok((await bf().submitKyc(b.u, b.order, kycForm('FR'))).ok);
        const own = (await t.app.services.kyc.buyflowStatus(t.db, `buyflow:${b.u.id}`))!;
        assert.ok((await t.app.services.kyc.decide(own.recordId, 'PASS')).ok);
        assert.equal((await bf().kycState(b.u, b.order)).state, 'VERIFIED');
        const ids = (
          await t.db.query(
            `SELECT kyc_record_id::text AS k, user_id::text AS u, source FROM buyflow_identities
              WHERE user_id IN ($1, $2)
            ORDER BY source`,
            [a.u.id, b.u.id],
          )
        ).rows;
        assert.deepEqual(ids, [
          { k: own.recordId, u: b.u.id, source: 'buyflow' },
          { k: record, u: a.u.id, source: 'shared' },
        ]);
      },
    );

    test('accounts binding one shared identity at the same time: exactly one is VERIFIED, the others are noted', async () => {
      const record = await sharedPassed('ident-2');
      const users = await Promise.all([1, 2, 3, 4, 5].map(() => userWithOrder('ident-2')));
      const states = await Promise.all(users.map((x) => bf().kycState(x.u, x.order)));
      assert.deepEqual(states.map((s) => s.state).sort(), ['NEEDED', 'NEEDED', 'NEEDED', 'NEEDED', 'VERIFIED']);
      const winner = users[states.findIndex((s) => s.state === 'VERIFIED')]?.u.id;
      const verified = (
        await t.db.query(`SELECT id::text AS id FROM buyflow_users WHERE kyc_record_id = $1 AND kyc_level <> 'NONE'`, [
          record,
        ])
      ).rows;
      assert.deepEqual(
        verified.map((r) => r.id),
        [winner],
      );
      assert.deepEqual(
        (await t.db.query(`SELECT user_id::text AS u FROM buyflow_identities WHERE kyc_record_id = $1`, [record])).rows,
        [{ u: winner }],
      );
      const noted = (await t.admin('GET', `/admin/v1/connect/identity-conflicts?kycUserId=${record}`)).json;
      assert.deepEqual(
        noted.map((c: any) => c.userId).sort(),
        users
          .map((x) => x.u.id)
          .filter((id) => id !== winner)
          .sort(),
      );
      assert.ok(noted.every((c: any) => c.boundUserId === winner));
    });

    test(
      "the daily limit is the identity's: checkLimitLocked waits for the row that stands for the identity",
      { skip: kind === 'pglite' && 'PGlite runs one transaction at a time' },
      async () => {
        const record = await sharedPassed('ident-3');
        const a = await userWithOrder('ident-3');
        assert.equal((await bf().kycState(a.u, a.order)).state, 'VERIFIED');
        let release!: () => void;
        const released = new Promise<void>((r) => {
          release = r;
        });
        let locked!: () => void;
        const isLocked = new Promise<void>((r) => {
          locked = r;
        });
        const holder = t.db.tx(async (q) => {
          await q.query(`SELECT 1 FROM buyflow_identities WHERE kyc_record_id = $1 FOR UPDATE`, [record]);
          locked();
          await released;
        });
        await isLocked;
        let done = false;
        const check = t.db
          .tx((q) => checkLimitLocked(q, a.u.id, 'VERIFIED', '100.00', t.clock.now(), a.order.orderId))
          .then((r) => {
            done = true;
            return r;
          });
        await sleep(300);
        assert.equal(done, false, 'a second check on the same identity waits');
        release();
        await holder;
        assert.equal((await check).ok, true);
      },
    );

    test(
      'accounts one shared record verified before the fix: migration 0015 keeps the first, lists and unverifies ' +
        "the others, and their purchases still count against the identity's daily limit",
      async () => {
        const record = await sharedPassed('ident-legacy');
        const first = await userWithOrder('ident-legacy');
        const second = await userWithOrder('ident-legacy');
        // What kycState did before: every account presenting the merchantUserId became VERIFIED by the shared record.
        await t.db.query(
          `UPDATE buyflow_users SET kyc_level = 'VERIFIED', kyc_source = 'shared', kyc_record_id = $1
          WHERE id IN ($2, $3)`,
          [record, first.u.id, second.u.id],
        );
        // The second account's purchase of 20,000 USD, confirmed an hour ago (what confirm records for the limit).
        const now = t.clock.now();
        const bought = await newOrder('20000');
        assert.ok((await bf().attach(bought.order, second.u.id)).ok);
        await t.db.tx(async (q) => {
          assert.ok(
            await t.app.services.connectOrders.transition(q, bought.order.orderId, 'CREATED', 'PAYMENT_PROCESSING'),
          );
          await q.query(`UPDATE buyflow_orders SET confirmed_at = $2, usd_amount = 20000 WHERE order_id = $1`, [
            bought.order.orderId,
            now - 3_600_000,
          ]);
        });
        const limitOf = (userId: string, usd: string) =>
          t.db.tx((q) => checkLimitLocked(q, userId, 'VERIFIED', usd, now, first.order.orderId));
        assert.deepEqual(
          [(await userRow(first.u.id)).kyc_level, (await userRow(second.u.id)).kyc_level],
          ['VERIFIED', 'VERIFIED'],
        );

        await t.db.query(`DELETE FROM schema_migrations WHERE name = '0015_buyflow_identity.sql'`);
        assert.deepEqual(await migrate(t.db), ['0015_buyflow_identity.sql']);

        assert.deepEqual(
          [(await userRow(first.u.id)).kyc_level, (await userRow(second.u.id)).kyc_level],
          ['VERIFIED', 'NONE'],
        );
        assert.deepEqual(
          (await t.db.query(`SELECT user_id::text AS u FROM buyflow_identities WHERE kyc_record_id = $1`, [record]))
            .rows,
          [{ u: first.u.id }],
        );
        const noted = (await t.admin('GET', `/admin/v1/connect/identity-conflicts?kycUserId=${record}`)).json;
        assert.deepEqual(
          noted.map((c: any) => [c.userId, c.boundUserId, c.detectedBy]),
          [[second.u.id, first.u.id, 'migration']],
        );
        const over = await limitOf(first.u.id, '30000.01');
        assert.deepEqual(
          [over.ok, over.usedUsd, over.remainingUsd],
          [false, '20000.00', '30000.00'],
          "the second account's purchase counts against the person",
        );
        assert.equal((await limitOf(first.u.id, '30000')).ok, true);
        assert.equal(
          (await bf().kycState((await bf().getUser(second.u.id))!, second.order)).state,
          'NEEDED',
          'the second account does its own KYC',
        );
      },
    );

    test(
      'restricted residence, nationality or ID country at KYC submit: REGION_RESTRICTED, nothing submitted to ' +
        'KYC, the order FAILED with that code for the partner',
      async () => {
        const hooked = await onboardPartner(t, { webhookUrl: 'https://hooks.example/connect' });
        const cases: [string, { country: string; idCountry: string; nationality?: string }, RegExp][] = [
          ['residence', { country: 'KP', idCountry: 'KP' }, /North Korea/],
          ['nationality', { country: 'FR', idCountry: 'FR', nationality: 'ir' }, /Iran/],
          ['ID country', { country: 'FR', idCountry: 'KP' }, /North Korea/],
        ];
        for (const [what, countries, name] of cases) {
          const x = await userWithOrder(undefined, hooked);
          const r = await bf().submitKyc(x.u, x.order, kycForm('FR', countries));
          assert.equal(!r.ok && r.code, 'REGION_RESTRICTED', what);
          assert.match(!r.ok ? (r.message ?? '') : '', name);
          assert.match(
            !r.ok ? (r.message ?? '') : '',
            /not available to residents or nationals of .*, or with an ID issued there/,
          );
          assert.equal(
            await t.app.services.kyc.buyflowStatus(t.db, `buyflow:${x.u.id}`),
            null,
            `${what}: nothing submitted to KYC`,
          );
          const q = (await hooked.client.call('query-order-list', { merchantOrderId: x.order.merchantOrderId })).json
            .data[0];
          assert.deepEqual(
            [q.orderMainStatus, q.orderSubStatus, q.errorCode],
            ['FAILURE', 'FAILED', 'REGION_RESTRICTED'],
            what,
          );
          const events = (
            await t.db.query(`SELECT payload FROM outbox WHERE topic = 'webhook' AND ordering_key = $1 ORDER BY id`, [
              `connect-order:${x.order.orderId}`,
            ])
          ).rows.map((e) => JSON.parse((typeof e.payload === 'string' ? JSON.parse(e.payload) : e.payload).body));
          assert.deepEqual(
            [events.at(-1).orderSubStatus, events.at(-1).errorCode],
            ['FAILED', 'REGION_RESTRICTED'],
            `${what}: the webhook`,
          );
          const row = await userRow(x.u.id);
          assert.deepEqual(
            [row.country, row.nationality, row.id_country],
            [countries.country, (countries.nationality ?? countries.country).toUpperCase(), countries.idCountry],
          );
          assert.equal(row.kyc_level, 'NONE');
        }

        // Not restricted: submitted as before, the three countries recorded; residence must still match the ID.
        const ok = await userWithOrder();
        const mismatch = await bf().submitKyc(ok.u, ok.order, kycForm('FR', { idCountry: 'DE' }));
        assert.equal(!mismatch.ok && mismatch.code, 'COUNTRY_MISMATCH');
        const badNat = await bf().submitKyc(ok.u, ok.order, kycForm('FR', { nationality: 'France' }));
        assert.equal(!badNat.ok && badNat.code, 'INVALID_NATIONALITY');
        assert.ok((await bf().submitKyc(ok.u, ok.order, kycForm('FR', { nationality: 'DE' }))).ok);
        const okRow = await userRow(ok.u.id);
        assert.deepEqual([okRow.country, okRow.nationality, okRow.id_country], ['FR', 'DE', 'FR']);
        assert.equal(
          (await partner.client.call('query-order-list', { merchantOrderId: ok.order.merchantOrderId })).json.data[0]
            .orderSubStatus,
          'KYC_REVIEW',
        );

        // A restricted answer on someone else's order changes nothing there.
        const victim = await userWithOrder();
        const other = await newUser();
        const foreign = await bf().submitKyc(other, victim.order, kycForm('KP'));
        assert.equal(!foreign.ok && foreign.code, 'ORDER_OF_ANOTHER_USER');
        assert.equal(
          (await partner.client.call('query-order-list', { merchantOrderId: victim.order.merchantOrderId })).json
            .data[0].orderSubStatus,
          'CREATED',
        );
      },
    );

    test('the KYC page asks for nationality, and POST /kyc answers REGION_RESTRICTED in its JSON', async () => {
      const x = await userWithOrder();
      const s = await t.app.services.sessions.create('buyflow', x.u.id);
      const csrf = 'c'.repeat(32);
      const cookie = `bf_session=${s.cookie}; bf_csrf=${csrf}`;
      const page = await fetch(`${t.baseUrl}/en/connect/buyflow?token=${x.token}`, { headers: { cookie } });
      const htmlText = await page.text();
      assert.match(
        htmlText,
        /<select id="nationality" name="nationality"><option value="">Same as country of residence<\/option><option value="AF">Afghanistan<\/option>/,
      );
      const res = await fetch(`${t.baseUrl}/en/connect/buyflow/kyc?token=${x.token}`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json' },
        body: JSON.stringify({
          csrf,
          country: 'FR',
          idCountry: 'FR',
          nationality: 'KP',
          documentType: 'PASSPORT',
          firstName: 'Ana',
          lastName: 'Lee',
          dateOfBirth: '1990-01-01',
          files: { front: PNG.toString('base64'), selfie: PNG.toString('base64') },
        }),
      });
      const j = await res.json();
      assert.equal(res.status, 400);
      assert.equal(j.code, 'REGION_RESTRICTED');
      assert.match(j.message, /North Korea/);
      assert.equal((await userRow(x.u.id)).nationality, 'KP', 'the nationality went through the form handler');
      assert.equal(
        (await partner.client.call('query-order-list', { merchantOrderId: x.order.merchantOrderId })).json.data[0]
          .errorCode,
        'REGION_RESTRICTED',
      );
    });
  });
}
