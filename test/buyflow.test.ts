import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { kycSignature } from '../src/kyc/auth.ts';
import { after, before, describe, test } from 'node:test';
import { erc20Abi, type Address } from 'viem';
import { SUPPORTED_CARD_COUNTRIES, brandSupportedIn } from '../src/cards/support.ts';
import { checkCard } from '../src/cards/validate.ts';
import { Decimal } from '../src/platform/money.ts';
import { assertAuditOk, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { productionEnv } from './support/production-env.ts';
import { buyflowFixture, kycInput, PNG, TRX_ADDRESS } from './support/buyflow-fixture.ts';
import { onboardPartner } from './support/connect-client.ts';

test(
  'the supported-cards table ships complete: 235 rows, 216 Y/Y, the 19 unsupported countries, absent countries ' +
    'unsupported',
  () => {
    assert.equal(SUPPORTED_CARD_COUNTRIES.length, 235);
    assert.equal(SUPPORTED_CARD_COUNTRIES.filter((r) => r.visa && r.mastercard).length, 216);
    assert.equal(SUPPORTED_CARD_COUNTRIES.filter((r) => r.visa !== r.mastercard).length, 0);
    assert.deepEqual(
      SUPPORTED_CARD_COUNTRIES.filter((r) => !r.visa && !r.mastercard)
        .map((r) => r.code)
        .join(' '),
      'AF AS BD BI ER GU LY MA MM MP PF PR RU SG SO UM VE VI YE',
    );
    assert.equal(SUPPORTED_CARD_COUNTRIES.find((r) => r.code === 'CI')?.country, 'Cote dlvoire');
    assert.equal(brandSupportedIn('FR', 'VISA'), true);
    assert.equal(brandSupportedIn('US', 'VISA'), false);
    assert.equal(brandSupportedIn('RU', 'MASTERCARD'), false);
  },
);

test('card checks: Luhn, Visa/Mastercard only, expiry, CVV', () => {
  const now = Date.UTC(2026, 5, 15);
  const base = { name: 'Tom Hiddleston', number: '4242 4242 4242 4242', expiry: '12/30', cvv: '222' };
  assert.equal(checkCard(base, now).ok, true);
  const code = (p: Partial<typeof base>) => {
    const r = checkCard({ ...base, ...p }, now);
    return r.ok ? 'OK' : r.code;
  };
  assert.equal(code({ number: '4242 4242 4242 4241' }), 'INVALID_NUMBER');
  assert.equal(code({ number: '3782 822463 10005' }), 'CARD_NOT_SUPPORTED');
  assert.equal(code({ number: '2223 0031 2200 3222' }), 'OK');
  assert.equal(code({ expiry: '05/26' }), 'CARD_EXPIRED');
  assert.equal(code({ expiry: '06/26' }), 'OK');
  assert.equal(code({ cvv: '22' }), 'INVALID_CVV');
});

for (const kind of DB_KINDS) {
  describe(`buy flow services (${kind})`, () => {
    let t: TestApp;
    let partner: Awaited<ReturnType<typeof onboardPartner>>;
    before(async () => {
      // These tests drive many partner API calls a second; the partner rate limit has its own test in connect-api.
      t = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      partner = await onboardPartner(t);
    });
    after(async () => t.close());
    const bf = () => t.app.services.buyflow;

    const f = buyflowFixture(
      () => t,
      () => partner,
    );
    const { newOrder, newUser, verifiedUser } = f;
    async function latestCode(to: string) {
      const m = (await t.app.services.mailer.list(to))[0];
      assert.ok(m);
      return /(\d{6})/.exec(m.text)![1]!;
    }
    const card = (u: { id: string }, number?: string) => f.addCard(u.id, number);
    const quotedOrder = async (u: { id: string }, amount: string) => (await f.quotedOrder(u.id, amount)).order;
    async function query(moid: string) {
      return (await partner.client.call('query-order-list', { merchantOrderId: moid })).json.data[0];
    }

    describe('sign-up, codes and KYC', () => {
      test(
        'worker tick after a KYC decision applies it once, then reports no work although the approved order stays ' +
          'KYC_REVIEW (no busy loop)',
        async () => {
          const u = await newUser();
          const { order } = await newOrder();
          await bf().attach(order, u.id);
          const k = await bf().submitKyc(u, order, kycInput());
          assert.ok(k.ok, JSON.stringify(k));
          assert.equal(await bf().runOnce(), 0, 'still in review: nothing to do');
          const st = (await t.app.services.kyc.buyflowStatus(t.db, `buyflow:${u.id}`))!;
          assert.equal(
            (await t.admin('POST', `/sandbox/v1/kyc/${st.recordId}/decision`, { decision: 'PASS' })).status,
            200,
          );
          assert.equal(await bf().runOnce(), 1, 'the decision is applied by the worker');
          assert.equal((await bf().getUser(u.id))!.kycLevel, 'VERIFIED');
          assert.equal(
            (await query(order.merchantOrderId)).orderSubStatus,
            'KYC_REVIEW',
            'the order leaves KYC_REVIEW only at confirm',
          );
          // Reporting work here made startLoop re-run the tick at once, forever; on PGlite that starved every HTTP
          // request.
          assert.equal(await bf().runOnce(), 0);
          assert.equal(await bf().runOnce(), 0);
        },
      );

      test("CSP frame-ancestors lists only the order's partner's registered redirect domains", async () => {
        const csp = async (token: string) => {
          const res = await fetch(`${t.baseUrl}/en/connect/buyflow?token=${token}`, { redirect: 'manual' });
          assert.equal(res.status, 200);
          await res.text();
          return {
            ancestors: /frame-ancestors ([^;]*)/
              .exec(res.headers.get('content-security-policy') ?? '')?.[1]!
              .trim()
              .split(/\s+/),
            xfo: res.headers.get('x-frame-options'),
          };
        };
        const a = await csp((await newOrder()).token);
        assert.deepEqual(a.ancestors, ['https://wallet.example', 'http://wallet.example'], 'sandbox also allows http');
        assert.equal(a.xfo, null, 'X-Frame-Options would forbid the allowed framing');
        const other = await onboardPartner(t, { redirectDomains: ['shop.example', 'pay.shop.example'] });
        const r = await other.client.call('buy-withdraw-crypto', {
          merchantOrderId: `csp${Date.now()}`,
          fiatCurrency: 'USD',
          cryptoCurrency: 'USDT',
          orderAmount: 100,
          merchantRedirectUrl: 'https://shop.example/back',
          withdrawCryptoInfo: { cryptoNetwork: 'TRX', cryptoAddress: TRX_ADDRESS },
        });
        assert.equal(r.json.code, '000000', r.text);
        const b = await csp(r.json.data.token);
        assert.deepEqual(b.ancestors, [
          'https://shop.example',
          'http://shop.example',
          'https://pay.shop.example',
          'http://pay.shop.example',
        ]);
        const bad = await fetch(`${t.baseUrl}/en/connect/buyflow?token=${'0'.repeat(40)}`);
        await bad.text();
        assert.match(
          bad.headers.get('content-security-policy') ?? '',
          /frame-ancestors 'none'/,
          'an unknown link cannot be framed at all',
        );
        assert.equal(bad.headers.get('x-frame-options'), 'DENY');
      });

      test('codes: wrong code counts, 5 tries void it, resend waits 59 s, consent recorded with version and time', async () => {
        const s = await bf().signup({ kind: 'email', identifier: 'codes@example.com', password: 'Passw0rdX' });
        assert.ok(s.ok);
        assert.equal((await bf().sendCode(s.value.userId)).ok, false, 'resend before 59 s');
        const good = await latestCode('codes@example.com');
        const noConsent = await bf().verifyCode(s.value.userId, good, { terms: false, marketing: false });
        assert.equal(!noConsent.ok && noConsent.code, 'CONSENT_REQUIRED');
        const wrong = good === '000000' ? '111111' : '000000';
        for (let i = 0; i < 5; i++)
          assert.equal((await bf().verifyCode(s.value.userId, wrong, { terms: true, marketing: false })).ok, false);
        const voided = await bf().verifyCode(s.value.userId, good, { terms: true, marketing: false });
        assert.equal(!voided.ok && voided.code, 'CODE_EXPIRED');
        (t.clock as any).advance(59_000);
        assert.ok((await bf().sendCode(s.value.userId)).ok);
        (t.clock as any).advance(10 * 60_000 + 1);
        const late = await bf().verifyCode(s.value.userId, await latestCode('codes@example.com'), {
          terms: true,
          marketing: false,
        });
        assert.equal(!late.ok && late.code, 'CODE_EXPIRED', 'valid 10 minutes');
        (t.clock as any).advance(59_000);
        assert.ok((await bf().sendCode(s.value.userId)).ok);
        const v = await bf().verifyCode(s.value.userId, await latestCode('codes@example.com'), {
          terms: true,
          marketing: false,
        });
        assert.ok(v.ok);
        const row = (
          await t.db.query(`SELECT consent_version, consent_at, password_hash FROM buyflow_users WHERE id = $1`, [
            s.value.userId,
          ])
        ).rows[0];
        assert.equal(row.consent_version, 'terms-2024-01+privacy-2024-01');
        assert.equal(Number(row.consent_at), t.clock.now());
        assert.match(row.password_hash, /^scrypt\$/);
        assert.equal((await bf().signup({ kind: 'email', identifier: 'x@example.com', password: 'weak' })).ok, false);
      });

      test(
        'KYC rejected shows the reason and can be resubmitted; the order goes KYC_REVIEW → CREATED; files ' +
          'stored sealed',
        async () => {
          const u = await newUser();
          const { order } = await newOrder();
          await bf().attach(order, u.id);
          const input = {
            country: 'FR',
            idCountry: 'FR',
            documentType: 'ID_CARD',
            firstName: 'Ana',
            lastName: 'Lee',
            dateOfBirth: '1990-01-01',
            files: [
              { field: 'front' as const, bytes: PNG },
              { field: 'back' as const, bytes: PNG },
              { field: 'selfie' as const, bytes: PNG },
            ],
          };
          assert.equal(
            (await bf().submitKyc(u, order, { ...input, idCountry: 'DE' })).ok,
            false,
            'country must match the ID',
          );
          assert.equal(
            (
              await bf().submitKyc(u, order, {
                ...input,
                files: [{ field: 'front', bytes: Buffer.from('GIF89a') }, ...input.files.slice(1)],
              })
            ).ok,
            false,
            'type checked',
          );
          assert.ok((await bf().submitKyc(u, order, input)).ok);
          assert.equal((await query(order.merchantOrderId)).orderSubStatus, 'KYC_REVIEW');
          const files = (
            await t.db.query(
              `SELECT data_sealed FROM kyc_files f JOIN kyc_records r ON r.id = f.record_id WHERE r.subject_key = $1`,
              [`buyflow:${u.id}`],
            )
          ).rows;
          assert.equal(files.length, 3);
          assert.ok(!files[0].data_sealed.includes(PNG.toString('base64')));
          const st = (await t.app.services.kyc.buyflowStatus(t.db, `buyflow:${u.id}`))!;
          const queue = await t.admin('GET', '/admin/v1/kyc?status=REVIEW');
          assert.ok(queue.json.some((r: any) => r.kycUserId === st.recordId && r.source === 'buyflow'));
          assert.equal(
            (
              await t.admin('POST', `/admin/v1/kyc/${st.recordId}/decision`, {
                decision: 'REJECT',
                reason: 'Document unreadable',
              })
            ).status,
            200,
          );
          const k = await bf().kycState(u, order);
          assert.deepEqual(k, { state: 'REJECTED', reason: 'Document unreadable' });
          const q1 = await query(order.merchantOrderId);
          assert.equal(q1.orderSubStatus, 'CREATED');
          assert.equal(q1.errorCode, 'KYC_REJECTED');
          assert.ok((await bf().submitKyc(u, order, input)).ok, 'resubmission');
          assert.equal((await query(order.merchantOrderId)).orderSubStatus, 'KYC_REVIEW');
          assert.equal(
            (await t.admin('POST', `/sandbox/v1/kyc/${st.recordId}/decision`, { decision: 'PASS' })).status,
            200,
          );
          assert.equal((await bf().kycState(u, order)).state, 'VERIFIED');
        },
      );
    });
    describe('card payment, price lock and limits', () => {
      test(
        'declined and insufficient-funds cards move nothing and return the order to CREATED; 3-D Secure challenge ' +
          'then approval completes the purchase',
        async () => {
          const u = await verifiedUser();
          const { order } = await newOrder('100');
          await bf().attach(order, u.id);
          const declined = await card(u, '4000000000000002');
          await bf().lockQuote(order.orderId, u.id);
          const before = (await t.db.query(`SELECT count(*)::int AS n FROM ledger_transfers`)).rows[0].n;
          assert.ok((await bf().confirm(order.orderId, u.id, declined.id)).ok);
          let q = await query(order.merchantOrderId);
          assert.equal(q.orderSubStatus, 'CREATED');
          assert.equal(q.errorCode, 'CARD_DECLINED');
          const poor = await card(u, '4000000000009995');
          assert.ok((await bf().confirm(order.orderId, u.id, poor.id)).ok);
          assert.equal((await query(order.merchantOrderId)).errorCode, 'INSUFFICIENT_FUNDS');
          assert.equal(
            (await t.db.query(`SELECT count(*)::int AS n FROM ledger_transfers`)).rows[0].n,
            before,
            'nothing moved',
          );
          const threeDs = await card(u, '4000000000003220');
          const c = await bf().confirm(order.orderId, u.id, threeDs.id);
          assert.equal(c.ok && c.value.step, 'CHALLENGE');
          assert.equal((await query(order.merchantOrderId)).orderSubStatus, 'PAYMENT_PROCESSING');
          assert.ok((await bf().completeChallenge(order.orderId, u.id, true)).ok);
          q = await query(order.merchantOrderId);
          assert.equal(q.orderSubStatus, 'WITHDRAW_PROCESSING');
          assert.equal(q.errorCode, null);
          const bal = await t.app.services.ledger.balances(t.db, 'user', `buyflow:${u.id}`);
          assert.equal(bal.find((b) => b.asset === 'USDT')?.held, String(q.obtainAmount));
          assert.equal(bal.find((b) => b.asset === 'USD')?.posted ?? '0', '0');
          await assertAuditOk(t);
        },
      );

      test('expired quote: confirm after 59 s charges nothing and a fresh quote is locked', async () => {
        const u = await verifiedUser();
        const { order } = await newOrder('50');
        await bf().attach(order, u.id);
        const c = await card(u);
        await bf().lockQuote(order.orderId, u.id);
        (t.clock as any).advance(60_000);
        const r = await bf().confirm(order.orderId, u.id, c.id);
        assert.equal(!r.ok && r.code, 'QUOTE_EXPIRED');
        assert.equal((await query(order.merchantOrderId)).orderSubStatus, 'CREATED');
        assert.equal(
          (await t.db.query(`SELECT count(*)::int AS n FROM card_charges WHERE ref LIKE $1`, [`${order.orderId}:%`]))
            .rows[0].n,
          0,
        );
        const fresh = await bf().lockQuote(order.orderId, u.id);
        assert.ok(fresh.ok && fresh.value.expiresAt === t.clock.now() + 59_000);
        assert.ok((await bf().confirm(order.orderId, u.id, c.id)).ok);
      });

      test(
        'rolling 24 h limit: the third 20,000 USD order fails LIMIT_EXCEEDED with what is left; two parallel ' +
          'confirms at the edge: exactly one passes',
        async () => {
          const u = await verifiedUser();
          const c = await card(u);
          const pay = (amount: string) => quotedOrder(u, amount);
          for (const a of ['20000', '10000']) assert.ok((await bf().confirm((await pay(a)).orderId, u.id, c.id)).ok);
          const a = await pay('20000');
          const b = await pay('20000');
          const [ra, rb] = await Promise.all([
            bf().confirm(a.orderId, u.id, c.id),
            bf().confirm(b.orderId, u.id, c.id),
          ]);
          assert.equal([ra, rb].filter((r) => r.ok).length, 1, JSON.stringify([ra, rb]));
          const loser = [ra, rb].find((r) => !r.ok)!;
          assert.equal(!loser.ok && loser.code, 'LIMIT_EXCEEDED');
          assert.match(!loser.ok ? loser.message! : '', /up to 0\.00 USD more/);
          const failed = await query((ra.ok ? b : a).merchantOrderId);
          assert.equal(failed.orderMainStatus, 'FAILURE');
          assert.equal(failed.errorCode, 'LIMIT_EXCEEDED');
          (t.clock as any).advance(24 * 3_600_000 + 1);
          assert.ok((await bf().confirm((await pay('20000')).orderId, u.id, c.id)).ok, 'the window rolls');
          await assertAuditOk(t);
        },
      );

      test('an unsupported card country: residents of RU and cards issued in RU are refused CARD_NOT_SUPPORTED', async () => {
        const ru = await verifiedUser('RU');
        const r = await bf().addCard(ru, { name: 'Ivan', number: '4242424242424242', expiry: '12/34', cvv: '123' });
        assert.equal(!r.ok && r.code, 'CARD_NOT_SUPPORTED');
        const fr = await verifiedUser('FR');
        const issued = await bf().addCard(fr, {
          name: 'Ana',
          number: '4000006430000009',
          expiry: '12/34',
          cvv: '123',
        });
        assert.equal(!issued.ok && issued.code, 'CARD_NOT_SUPPORTED');
        assert.equal(
          (await t.db.query(`SELECT count(*)::int AS n FROM buyflow_cards WHERE user_id IN ($1, $2)`, [ru.id, fr.id]))
            .rows[0].n,
          0,
        );
      });

      test(
        'proof of address: a VERIFIED user blocked at 50,000 USD buys above it once the proof is approved ' +
          '(VERIFIED_PLUS); a rejected proof keeps VERIFIED',
        async () => {
          const u = await verifiedUser();
          const c = await card(u);
          const pay = (amount: string) => quotedOrder(u, amount);
          for (const a of ['20000', '20000']) assert.ok((await bf().confirm((await pay(a)).orderId, u.id, c.id)).ok);
          const blocked = await bf().confirm((await pay('20000')).orderId, u.id, c.id);
          assert.equal(!blocked.ok && blocked.code, 'LIMIT_EXCEEDED');
          assert.match(
            !blocked.ok ? blocked.message! : '',
            /up to 10000\.00 USD more .*limit 50000\.00 USD.*Verify your address/,
          );
          const address = { addressLine: '1 rue de Rivoli', city: 'Paris', postalCode: '75001', file: PNG };
          const unverified = await newUser();
          const early = await bf().submitProofOfAddress(unverified.id, address);
          assert.equal(!early.ok && early.code, 'KYC_REQUIRED', 'the step comes after VERIFIED');
          const gif = await bf().submitProofOfAddress(u.id, { ...address, file: Buffer.from('GIF89a') });
          assert.equal(!gif.ok && gif.code, 'UNSUPPORTED_FILE');
          assert.ok((await bf().submitProofOfAddress(u.id, address)).ok);
          const twice = await bf().submitProofOfAddress(u.id, address);
          assert.equal(!twice.ok && twice.code, 'KYC_IN_REVIEW');
          const inReview = await bf().confirm((await pay('20000')).orderId, u.id, c.id);
          assert.equal(!inReview.ok && inReview.code, 'LIMIT_EXCEEDED', 'still 50,000 while the proof is reviewed');
          const st = (await t.app.services.kyc.buyflowStatus(t.db, `buyflow:${u.id}:address`))!;
          assert.equal(st.status, 'REVIEW');
          const queue = await t.admin('GET', '/admin/v1/kyc?status=REVIEW');
          assert.ok(
            queue.json.some((r: any) => r.kycUserId === st.recordId && r.source === 'buyflow'),
            'in the operator review queue as its own check',
          );
          const file = (
            await t.db.query(`SELECT field, data_sealed FROM kyc_files WHERE record_id = $1`, [st.recordId])
          ).rows;
          assert.deepEqual(
            file.map((f) => f.field),
            ['proofOfAddress'],
          );
          assert.ok(!file[0].data_sealed.includes(PNG.toString('base64')), 'stored encrypted');
          assert.equal(
            (await t.admin('POST', `/admin/v1/kyc/${st.recordId}/decision`, { decision: 'PASS' })).status,
            200,
          );
          const above = await bf().confirm((await pay('20000')).orderId, u.id, c.id);
          assert.ok(above.ok, JSON.stringify(above));
          const up = (await bf().getUser(u.id))!;
          assert.equal(up.kycLevel, 'VERIFIED_PLUS');
          assert.equal((await bf().syncAddress(u.id)).state, 'VERIFIED_PLUS');
          assert.ok(
            (await bf().confirm((await pay('20000')).orderId, u.id, c.id)).ok,
            '80,000 USD in 24 h under the 200,000 limit',
          );

          const v = await verifiedUser();
          assert.ok((await bf().submitProofOfAddress(v.id, address)).ok);
          const vs = (await t.app.services.kyc.buyflowStatus(t.db, `buyflow:${v.id}:address`))!;
          assert.equal(
            (
              await t.admin('POST', `/admin/v1/kyc/${vs.recordId}/decision`, {
                decision: 'REJECT',
                reason: 'Document older than 3 months',
              })
            ).status,
            200,
          );
          assert.ok((await bf().runOnce()) >= 1, 'the worker applies the decision');
          assert.equal((await bf().getUser(v.id))!.kycLevel, 'VERIFIED');
          assert.deepEqual(await bf().syncAddress(v.id), { state: 'REJECTED', reason: 'Document older than 3 months' });
          assert.ok((await bf().submitProofOfAddress(v.id, address)).ok, 'a rejected proof can be replaced');
          await assertAuditOk(t);
        },
      );
    });
    describe('purchase failure and returning users', () => {
      test(
        'purchase failure (sandbox trigger: an order of 66.66): the card charge is reversed in the ledger and ' +
          'refunded, the order ends FAILED PURCHASE_FAILED in query-order-list and the webhook',
        async () => {
          const hooked = await onboardPartner(t, { webhookUrl: 'https://hooks.example/connect' });
          const r = await hooked.client.call('buy-withdraw-crypto', {
            merchantOrderId: `pf${Date.now()}`,
            fiatCurrency: 'USD',
            cryptoCurrency: 'USDT',
            orderAmount: 66.66,
            merchantRedirectUrl: 'https://wallet.example/done',
            withdrawCryptoInfo: { cryptoNetwork: 'TRX', cryptoAddress: TRX_ADDRESS },
          });
          assert.equal(r.json.code, '000000', r.text);
          const { order } = (await bf().orderByToken(r.json.data.token))!;
          const u = await verifiedUser();
          const c = await card(u);
          await bf().attach(order, u.id);
          await bf().lockQuote(order.orderId, u.id);
          const res = await bf().confirm(order.orderId, u.id, c.id);
          assert.ok(res.ok, JSON.stringify(res));
          const q = (await hooked.client.call('query-order-list', { merchantOrderId: order.merchantOrderId })).json
            .data[0];
          assert.deepEqual(
            [q.orderMainStatus, q.orderSubStatus, q.errorCode],
            ['FAILURE', 'FAILED', 'PURCHASE_FAILED'],
          );
          const charge = (
            await t.db.query(`SELECT id, status FROM card_charges WHERE ref LIKE $1`, [`${order.orderId}:%`])
          ).rows;
          assert.deepEqual(
            charge.map((x) => x.status),
            ['REFUNDED'],
            'refunded at the acquirer',
          );
          const kinds = (
            await t.db.query(`SELECT kind FROM ledger_transfers WHERE ref = $1 ORDER BY kind`, [order.orderId])
          ).rows.map((x) => x.kind);
          assert.deepEqual(
            kinds,
            ['card_authorization', 'card_refund'],
            'charge authorized, captured and refunded; no purchase booked',
          );
          const bal = await t.app.services.ledger.balances(t.db, 'user', `buyflow:${u.id}`);
          assert.ok(
            bal.every((b) => new Decimal(b.posted).isZero() && new Decimal(b.held).isZero()),
            JSON.stringify(bal),
          );
          const events = (
            await t.db.query(`SELECT payload FROM outbox WHERE topic = 'webhook' AND ordering_key = $1 ORDER BY id`, [
              `connect-order:${order.orderId}`,
            ])
          ).rows.map((x) => JSON.parse((typeof x.payload === 'string' ? JSON.parse(x.payload) : x.payload).body));
          const last = events[events.length - 1];
          assert.deepEqual(
            [last.orderMainStatus, last.orderSubStatus, last.errorCode],
            ['FAILURE', 'FAILED', 'PURCHASE_FAILED'],
          );
          assert.ok(
            events.some((e) => e.orderSubStatus === 'PURCHASE_PROCESSING'),
            'each state change was sent',
          );
          await assertAuditOk(t);
        },
      );

      test('an existing verified user skips KYC on a new order; a broker-shared passed user skips it at VERIFIED', async () => {
        const u = await verifiedUser();
        const { order } = await newOrder();
        assert.equal((await bf().kycState(u, order)).state, 'VERIFIED');
        const fresh = await newUser();
        const { order: o2 } = await newOrder('100', { merchantUserId: 'shared-1' });
        assert.equal((await bf().kycState(fresh, o2)).state, 'NEEDED');
        const br = await t.admin('POST', '/admin/v1/brokers', {
          name: 'Acme broker',
          partialSharing: false,
          ipWhitelist: ['127.0.0.1'],
        });
        assert.equal(br.status, 201, JSON.stringify(br.json));
        await t.admin('PATCH', `/admin/v1/brokers/${br.json.bizEntityKey}`, {
          connectPartnerCode: partner.merchantCode,
        });
        // The broker shares shared-1's KYC through the real signed API; the worker fetches the documents; the
        // operator passes it.
        const images = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
        await new Promise<void>((r) => images.listen(0, '127.0.0.1', r));
        const img = (p: string) => `http://127.0.0.1:${(images.address() as AddressInfo).port}${p}`;
        try {
          const body = JSON.stringify({
            bizEntityKey: br.json.bizEntityKey,
            requestNo: `R${Date.now()}`,
            kycInfo: {
              userInfo: {
                bizEntityKey: br.json.bizEntityKey,
                entityCustomerId: 'shared-1',
                brokerMainAccountId: '1234567',
                brokerSubAccountId: String(Date.now()),
                notifyUrl: '.',
              },
              basicInfo: {
                firstName: 'Alice',
                lastName: 'Smith',
                country: 'AE',
                residentialCountry: 'AE',
                dob: '1999-09-19',
                userSubmitIp: '192.168.1.1',
                address: 'aaa',
                city: 'bbb',
                postalCode: '123456',
              },
              identityInfo: {
                documentType: 'ID_CARD',
                selectCountry: 'AE',
                frontFileUrl: img('/front.png'),
                faceFileUrl: img('/face.png'),
                firstName: 'Alice',
                lastName: 'Smith',
                dob: '1999-09-19',
                idType: 'ID_CARD',
                idCountry: 'AE',
                nationalityCountry: 'AE',
                idNumber: `ID${Date.now()}`,
                idExpiry: '2035-09-19',
                userSubmitIp: '192.168.1.1',
                issuingDate: '2010-09-19',
                gender: 'F',
              },
            },
          });
          const shared = await fetch(`${t.baseUrl}/bapi/ekyc/v2/public/ekyc/customer/share-kyc-data`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'X-SHA2-Signature': kycSignature(br.json.secret, body) },
            body,
          });
          assert.equal((await shared.json()).success, true);
          let entry: any;
          for (let i = 0; i < 100 && !entry; i++) {
            await t.app.outboxWorker.runOnce();
            entry = (await t.admin('GET', '/admin/v1/kyc?status=REVIEW')).json.find(
              (x: any) => x.entityCustomerId === 'shared-1',
            );
            if (!entry) await new Promise((r) => setTimeout(r, 50));
          }
          assert.ok(entry, 'the share reached the review queue');
          assert.equal((await bf().kycState(fresh, o2)).state, 'NEEDED', 'not before the operator passes it');
          assert.equal((await t.admin('POST', `/admin/v1/kyc/${entry.id}/decision`, { decision: 'PASS' })).status, 200);
        } finally {
          images.closeAllConnections();
          await new Promise((r) => images.close(r));
        }
        assert.equal((await bf().kycState(fresh, o2)).state, 'VERIFIED');
        const row = (await bf().getUser(fresh.id))!;
        assert.equal(row.kycLevel, 'VERIFIED');
        assert.equal(row.kycSource, 'shared');
      });
    });
  });
}

const autoState = async (t: TestApp, orderId: string) =>
  (
    await t.db.query(
      `SELECT withdraw_auto_attempts AS n, withdraw_next_at AS due FROM buyflow_orders WHERE order_id = $1`,
      [orderId],
    )
  ).rows[0];
/** Waits until the n-th automatic attempt failed and the next one is planned. */
async function planned(t: TestApp, orderId: string, n: number) {
  for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((res) => setTimeout(res, 100))) {
    const s = await autoState(t, orderId);
    if (Number(s.n) === n && s.due !== null) return Number(s.due);
  }
  assert.fail(`automatic attempt ${n} never failed: ${JSON.stringify(await autoState(t, orderId))}`);
}

/**
 * Runtime code standing in for the USDT test token: balanceOf answers a huge balance, every other call reverts, so a
 * withdrawal's gas estimation fails (GAS_ESTIMATION_FAILED: a chain failure). Since issue #16 a drained hot wallet no
 * longer fails a withdrawal (it waits, then proceeds), so these tests break the token instead.
 */
const REFUSING_TOKEN =
  '0x' +
  '60003560e01c' + // the call's 4-byte selector
  '6370a08231146013' + // balanceOf? jump to 0x13
  '57600080fd' + // anything else: revert
  '5b7f' +
  '7f'.padEnd(64, 'f') + // 0x13: push 2^255 - 1
  '60005260206000f3'; // return it

/**
 * An order confirmed by a verified user (sign-up, KYC passed, card) whose ETH withdrawal meets a token contract
 * refusing transfers; `saved` is the token's code before, to repair it later (its storage, the balances, is untouched).
 */
async function confirmedOrderWithDrainedHotWallet(t: TestApp, tag: string, toAddress: string, emailAddress: string) {
  const partner = await onboardPartner(t);
  const bf = t.app.services.buyflow;
  const eth = await t.app.services.chain.evm('ETH');
  const rpc = (method: string, params: unknown[]) =>
    eth.client.request({ method: method as any, params: params as any });
  const hot = (await t.db.query(`SELECT address FROM chain_contracts WHERE network = 'ETH' AND asset = 'USDT'`)).rows[0]
    .address as Address;
  const saved = await eth.client.getCode({ address: hot });
  const to = toAddress as Address;
  await rpc('anvil_setCode', [hot, REFUSING_TOKEN]);

  const r = await partner.client.call('buy-withdraw-crypto', {
    merchantOrderId: `${tag}${Date.now()}`,
    fiatCurrency: 'USD',
    cryptoCurrency: 'USDT',
    orderAmount: 100,
    merchantRedirectUrl: 'https://wallet.example/done',
    withdrawCryptoInfo: { cryptoNetwork: 'ETH', cryptoAddress: to },
  });
  assert.equal(r.json.code, '000000', r.text);
  const { order } = (await bf.orderByToken(r.json.data.token))!;
  const email = emailAddress;
  const s = await bf.signup({ kind: 'email', identifier: email, password: 'Passw0rdX' });
  assert.ok(s.ok);
  const code = /(\d{6})/.exec((await t.app.services.mailer.list(email))[0]!.text)![1]!;
  const v = await bf.verifyCode(s.value.userId, code, { terms: true, marketing: false });
  assert.ok(v.ok);
  const uid = v.value.id;
  assert.ok((await bf.attach(order, uid)).ok);
  assert.ok((await bf.submitKyc(v.value, order, kycInput())).ok);
  const st = (await t.app.services.kyc.buyflowStatus(t.db, `buyflow:${uid}`))!;
  assert.ok((await t.app.services.kyc.decide(st.recordId, 'PASS')).ok);
  assert.equal((await bf.syncKyc(uid)).state, 'VERIFIED');
  const c = await bf.addCard((await bf.getUser(uid))!, {
    name: 'Ana Lee',
    number: '4242424242424242',
    expiry: '12/34',
    cvv: '123',
  });
  assert.ok(c.ok);
  assert.ok((await bf.lockQuote(order.orderId, uid)).ok);
  assert.ok((await bf.confirm(order.orderId, uid, c.value.id)).ok);

  const current = async () => (await partner.client.call('query-order-list', { orderId: order.orderId })).json.data[0];
  const until = async (sub: string, ms = 60_000) => {
    for (const end = Date.now() + ms; Date.now() < end; await new Promise((res) => setTimeout(res, 200)))
      if ((await current()).orderSubStatus === sub) return;
    assert.fail(`order never reached ${sub}: ${JSON.stringify(await current())}`);
  };
  return { partner, bf, eth, rpc, hot, saved, to, order, uid, current, until };
}

test(
  "a failed withdrawal (token refusing transfers) keeps the crypto the user's, is retried once (a second retry is refused) " +
    'and sent once',
  { timeout: 180_000 },
  async () => {
    const t = await startTestApp({ workers: true, env: { CONNECT_RATE_PER_SECOND: '100000' } });
    try {
      const { bf, eth, rpc, hot, saved, to, order, uid, current, until } = await confirmedOrderWithDrainedHotWallet(
        t,
        'retry',
        '0x00000000000000000000000000000000000be7a1',
        'retry@example.com',
      );
      // Automatic attempts (spec §6.4), driven by the platform clock through the worker tick: 1st at once, 2nd 5 min
      // later, 3rd 10 min after that.
      await planned(t, order.orderId, 1);
      assert.equal(
        (await current()).orderSubStatus,
        'WITHDRAW_PROCESSING',
        'another automatic attempt is planned: not failed yet',
      );
      (t.clock as any).advance(5 * 60_000);
      await planned(t, order.orderId, 2);
      (t.clock as any).advance(10 * 60_000);
      await until('WITHDRAW_FAILED');
      assert.equal(Number((await autoState(t, order.orderId)).n), 3, 'three automatic attempts, then WITHDRAW_FAILED');
      const failed = await current();
      assert.equal(failed.errorCode, 'WITHDRAW_FAILED');
      const usdt = async () =>
        (await t.app.services.ledger.balances(t.db, 'user', `buyflow:${uid}`)).find((b) => b.asset === 'USDT');
      assert.equal(
        (await usdt())?.held,
        String(failed.obtainAmount),
        "the crypto stays the user's, held for the retry",
      );
      const w = (await bf.withdrawalOf(order.orderId))!;
      assert.equal(w.status, 'failed');
      assert.equal(
        (await t.db.query(`SELECT count(*)::int AS n FROM chain_txs WHERE withdrawal_id = $1`, [w.id])).rows[0].n,
        0,
        'nothing was signed',
      );

      await rpc('anvil_setCode', [hot, saved]);
      const [a, b] = await Promise.all([
        bf.retryWithdrawal(order.orderId, uid),
        bf.retryWithdrawal(order.orderId, uid),
      ]);
      assert.equal([a, b].filter((x) => x.ok).length, 1, JSON.stringify([a, b]));
      const refused = [a, b].find((x) => !x.ok)!;
      assert.equal(!refused.ok && refused.code, 'NOT_RETRYABLE');
      await rpc('anvil_mine', ['0xc']);
      await until('COMPLETED');
      const done = await current();
      assert.equal(done.orderMainStatus, 'SUCCESS');
      const token = (await t.db.query(`SELECT address FROM chain_contracts WHERE network = 'ETH' AND asset = 'USDT'`))
        .rows[0].address as Address;
      const onChain = await eth.client.readContract({
        address: token,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [to],
      });
      assert.equal(onChain, BigInt(new Decimal(done.obtainAmount).mul(1e6).toFixed()), 'sent exactly once');
      const txs = (await t.db.query(`SELECT hash FROM chain_txs WHERE withdrawal_id = $1`, [w.id])).rows;
      assert.equal(txs.length, 1, 'one transaction for the withdrawal');
      assert.equal(done.withdrawTxHash, txs[0].hash);
      assert.equal((await bf.withdrawalOf(order.orderId))!.attempts, 1);
      const again = await bf.retryWithdrawal(order.orderId, uid);
      assert.equal(!again.ok && again.code, 'NOT_RETRYABLE');
      assert.deepEqual({ posted: (await usdt())?.posted, held: (await usdt())?.held }, { posted: '0', held: '0' });
      await assertAuditOk(t);
    } finally {
      await t.close();
    }
  },
);

test(
  'automatic withdrawal attempts: a token refusing transfers fails attempts 1 and 2, repaired before attempt 3 (platform ' +
    'clock + worker tick), which sends once; no WITHDRAW_FAILED',
  { timeout: 180_000 },
  async () => {
    const t = await startTestApp({ workers: true, env: { CONNECT_RATE_PER_SECOND: '100000' } });
    try {
      const { bf, eth, rpc, hot, saved, to, order, uid, current, until } = await confirmedOrderWithDrainedHotWallet(
        t,
        'auto',
        '0x00000000000000000000000000000000000a0701',
        'auto@example.com',
      );
      const first = await planned(t, order.orderId, 1);
      assert.equal((await current()).orderSubStatus, 'WITHDRAW_PROCESSING');
      assert.equal(first, t.clock.now() + 5 * 60_000, '2nd attempt planned 5 min after the 1st failure');
      (t.clock as any).advance(4 * 60_000);
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(Number((await autoState(t, order.orderId)).n), 1, 'not before it is due');
      (t.clock as any).advance(60_000);
      await planned(t, order.orderId, 2);
      assert.equal((await current()).orderSubStatus, 'WITHDRAW_PROCESSING');
      await rpc('anvil_setCode', [hot, saved]);
      (t.clock as any).advance(10 * 60_000);
      await until('WITHDRAW_PROCESSING');
      for (
        const end = Date.now() + 60_000;
        Date.now() < end && (await current()).orderSubStatus !== 'COMPLETED';
        await new Promise((res) => setTimeout(res, 300))
      )
        await rpc('anvil_mine', ['0x2']);
      const done = await current();
      assert.equal(done.orderSubStatus, 'COMPLETED', JSON.stringify(done));
      assert.equal(done.errorCode, null);
      assert.equal(Number((await autoState(t, order.orderId)).n), 3);
      const w = (await bf.withdrawalOf(order.orderId))!;
      const txs = (await t.db.query(`SELECT hash FROM chain_txs WHERE withdrawal_id = $1`, [w.id])).rows;
      assert.equal(txs.length, 1, 'one transaction: the failed attempts signed nothing');
      assert.equal(done.withdrawTxHash, txs[0].hash);
      const token = (await t.db.query(`SELECT address FROM chain_contracts WHERE network = 'ETH' AND asset = 'USDT'`))
        .rows[0].address as Address;
      const onChain = await eth.client.readContract({
        address: token,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [to],
      });
      assert.equal(onChain, BigInt(new Decimal(done.obtainAmount).mul(1e6).toFixed()), 'sent exactly once');
      const again = await bf.retryWithdrawal(order.orderId, uid);
      assert.equal(!again.ok && again.code, 'NOT_RETRYABLE');
      await assertAuditOk(t);
    } finally {
      await t.close();
    }
  },
);

test(
  'production without a configured card acquirer refuses card payment with a clear message, never the sandbox ' +
    'acquirer',
  async () => {
    const t = await startTestApp({ env: await productionEnv({ PUBLIC_URL: 'https://rampart.example' }) });
    try {
      assert.equal(t.config.mode, 'production');
      const bf = t.app.services.buyflow;
      assert.equal(bf.cardPaymentsAvailable, false);
      const user = {
        id: '1',
        identifier: 'p@example.com',
        kind: 'email' as const,
        verified: true,
        consentAt: 1,
        country: 'FR',
        kycLevel: 'VERIFIED' as const,
        kycSource: 'buyflow',
      };
      const r = await bf.addCard(user, { name: 'Ana Lee', number: '4242424242424242', expiry: '12/34', cvv: '123' });
      assert.equal(!r.ok && r.code, 'CARD_PAYMENTS_UNAVAILABLE');
      assert.match(!r.ok ? r.message! : '', /no card acquirer is configured/);
      const c = await bf.confirm('missing-order', '1', '1');
      assert.equal(!c.ok && c.code, 'CARD_PAYMENTS_UNAVAILABLE', 'a saved card cannot be charged either');
      assert.equal(
        (await t.db.query(`SELECT count(*)::int AS n FROM card_tokens`)).rows[0].n,
        0,
        'nothing reached the sandbox acquirer',
      );
    } finally {
      await t.close();
    }
  },
);
