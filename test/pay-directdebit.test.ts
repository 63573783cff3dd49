import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config.ts';
import { createDirectDebitService, type DirectDebitService } from '../src/pay/directdebit/service.ts';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  snapshot,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';
import { createPayWebhookVerifier, type VerifiedPayWebhook } from './support/pay-webhook-verifier.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';
import { authorize, createTsp, type Tsp } from './tsp-support.ts';

/**
 * Direct debit over the signed API (binance-pay-extended.md §14): contract create / query / termination with every
 * field rule and code, idempotent creates, signing (sandbox hook and page), the DIRECT_DEBIT_CT webhooks verified with
 * Binance's RSA method, /pay/notify and /pay/apply within the limits, the 24-hour rule and the period window (raced
 * with Promise.all), the worker's payment and its PAY webhook, expiry, sign while paying (§14.9), the gate and the TSP
 * scope. The debit worker runs only when a test drives it (a service over the test's database).
 */
type Merchant = Awaited<ReturnType<typeof createMerchant>>;
const FIELD = 'BinancePay-technicalServiceProviderAuthId';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let seq = 0;
const key = () => `K${Date.now().toString(36)}${++seq}`;
const snap0 = (t: TestApp) => snapshot(t.db, ['pay_nonces', 'webhook_delivery_attempts']);

for (const kind of DB_KINDS) {
  describe(`Binance Pay direct debit (${kind})`, () => {
    let t: TestApp;
    let m: Merchant;
    let tsp: Tsp;
    let dd: DirectDebitService;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let verifier: ReturnType<typeof createPayWebhookVerifier>;
    let alice: Awaited<ReturnType<typeof createPayer>>;

    before(async () => {
      t = await startTestApp({ kind });
      receiver = await startReceiver();
      m = await createMerchant(t, { name: 'Gym Shop', webhookUrl: receiver.url('/merchant') });
      verifier = createPayWebhookVerifier(m.client);
      alice = await createPayer(t, `alice-dd-${kind}@example.com`, { USDT: '100' });
      tsp = await createTsp(t);
      const s = t.app.services;
      dd = createDirectDebitService({
        ...s,
        orders: s.orders,
        subMerchants: { isActive: async () => false, face: async () => null },
        openIdSalt: 'test',
        publicUrl: t.baseUrl,
        mode: 'sandbox',
        maxOrderExpireMs: t.config.pay.maxExpireMs,
        limitUsd: '10000',
      });
    });
    afterEach(async () => {
      await assertAuditOk(t);
    });
    after(async () => {
      await receiver?.close();
      await tsp?.receiver.close();
      await t.close();
    });

    // ---- helpers ----

    const now = () => t.clock.now();
    const advance = async (ms: number) => {
      const r = await t.admin('POST', '/sandbox/v1/clock/advance', { ms });
      assert.equal(r.status, 200, JSON.stringify(r.json));
    };
    /** Runs the debit worker until it has nothing to do, then delivers queued webhooks and mail. */
    async function drive() {
      for (let k = await dd.runOnce(); k > 0; k = await dd.runOnce());
      for (let k = await t.app.outboxWorker.runOnce(); k > 0; k = await t.app.outboxWorker.runOnce());
    }
    async function deliver() {
      for (let k = await t.app.outboxWorker.runOnce(); k > 0; k = await t.app.outboxWorker.runOnce());
    }
    const received = (bizId: string, bizStatus?: string) =>
      receiver.received.filter((x) => {
        const s = x.body.toString('utf8');
        return s.includes(`"bizIdStr":"${bizId}"`) && (!bizStatus || s.includes(`"bizStatus":"${bizStatus}"`));
      });
    async function hook(bizId: string, bizStatus: string): Promise<VerifiedPayWebhook> {
      await deliver();
      const r = await waitFor(`${bizStatus} for ${bizId}`, () => received(bizId, bizStatus)[0]);
      return verifier.verify(r.headers as any, r.body);
    }
    const payerBalance = async (payerId: string, asset = 'USDT') =>
      (await t.app.services.ledger.balance(t.db, { ownerType: 'payer', ownerId: payerId, asset })).available;
    const merchantBalance = async (merchantId: string, asset = 'USDT') =>
      (await t.app.services.ledger.balance(t.db, { ownerType: 'merchant', ownerId: merchantId, asset })).available;

    const onDemand = (over: Record<string, unknown> = {}) => ({
      merchantContractCode: key(),
      serviceName: 'Car wash',
      scenarioCode: 'Car_Parking',
      singleUpperLimit: 30,
      currency: 'USDT',
      periodic: false,
      merchantAccountNo: 'alice@example.com',
      ...over,
    });
    const monthly = (over: Record<string, unknown> = {}) =>
      onDemand({
        serviceName: 'Gym Membership',
        scenarioCode: 'Membership',
        periodic: true,
        cycleDebitFixed: false,
        cycleType: 'MONTH',
        cycleValue: 1,
        firstDeductTime: firstOfNextMonth(),
        ...over,
      });
    /** A future time on the 1st of a month (UTC), 10:00. */
    function firstOfNextMonth() {
      const d = new Date(now());
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1, 10);
    }

    async function create(body: Record<string, unknown>, client = m.client) {
      const r = await client.post('/direct-debit/contract', body);
      assert.equal(r.json.status, 'SUCCESS', r.text);
      return r.json.data as { preContractId: string; qrContent: string; requestExpireTime: number };
    }
    async function sign(preContractId: string, email = alice.email) {
      const r = await t.admin('POST', `/sandbox/v1/contracts/${preContractId}/decision`, {
        payerEmail: email,
        decision: 'AGREE',
      });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return String(r.json.contractId);
    }
    /** A signed contract: its contractId. */
    async function signed(body: Record<string, unknown>, email = alice.email) {
      return sign((await create(body)).preContractId, email);
    }
    const query = (ref: Record<string, unknown>, client = m.client) => client.post('/direct-debit/contract/query', ref);
    const apply = (contractId: string, over: Record<string, unknown> = {}, client = m.client) =>
      client.post('/pay/apply', {
        merchantRequestId: key(),
        tradeMode: 'DIRECT_DEBIT',
        bizId: contractId,
        amount: '10',
        currency: 'USDT',
        productName: 'Car wash',
        ...over,
      });
    const notify = (contractId: string, over: Record<string, unknown> = {}) =>
      m.client.post('/pay/notify', {
        merchantRequestId: key(),
        tradeMode: 'DIRECT_DEBIT',
        bizId: contractId,
        estimatedAmount: '10',
        currency: 'USDT',
        ...over,
      });
    const orderOf = async (prepayId: string) =>
      (await m.client.post('/v2/order/query', { prepayId })).json.data as { status: string; merchantTradeNo: string };

    const preOf = async (contractId: string) =>
      String(
        (await t.db.query(`SELECT pre_contract_id FROM pay_dd_contracts WHERE contract_id = $1`, [contractId])).rows[0]
          .pre_contract_id,
      );
    const codeOf = async (pre: string) =>
      String(
        (await t.db.query(`SELECT merchant_contract_code FROM pay_dd_contracts WHERE pre_contract_id = $1`, [pre]))
          .rows[0].merchant_contract_code,
      );

    // ---- contracts ----

    test('create → signing page → AGREE: CONTRACT_SIGNED with its contractId and a verified webhook', async () => {
      const body = monthly({ merchantContractCode: 'c0ecfb465e454560a5d8e307bbc407c5' });
      const r = await m.client.post('/direct-debit/contract', body);
      assert.equal(r.json.status, 'SUCCESS', r.text);
      const d = r.json.data;
      assert.deepEqual(Object.keys(d), [
        'merchantId',
        'preContractId',
        'contractEndTime',
        'requestExpireTime',
        'qrContent',
        'qrcodeLink',
        'deeplink',
      ]);
      assert.match(r.text, new RegExp(`"merchantId":${m.merchantId},`), 'merchantId is a JSON number');
      assert.match(d.preContractId, /^\d{18,19}$/);
      assert.equal(d.requestExpireTime, now() + HOUR);
      assert.equal(d.contractEndTime, now() + 1095 * DAY);
      assert.match(d.qrContent, new RegExp(`^${t.baseUrl}/checkout/contract/[A-Za-z0-9]{32}$`));
      assert.equal(d.deeplink, d.qrContent);
      assert.equal(d.qrcodeLink, `${d.qrContent}/qr.png`);
      const page = await fetch(d.qrContent);
      assert.equal(page.status, 200);
      const text = await page.text();
      assert.match(text, /Gym Shop/);
      assert.match(text, /Gym Membership/);
      assert.match(text, /every 1 month/);
      const png = await fetch(d.qrcodeLink);
      assert.equal(png.headers.get('content-type'), 'image/png');

      const q0 = await query({ merchantContractCode: body.merchantContractCode });
      assert.deepEqual(q0.json.data, {
        bizStatus: 'INITIAL',
        merchantContractCode: body.merchantContractCode,
        serviceName: 'Gym Membership',
        merchantAccountNo: 'alice@example.com',
        singleUpperLimit: 30,
        currency: 'USDT',
      });
      assert.match(q0.text, /"singleUpperLimit":30\.00000000/);

      const contractId = await sign(d.preContractId);
      assert.match(contractId, /^\d{16}$/);
      assert.ok(Number(contractId) < 2 ** 53);
      const q1 = await query({ contractId: Number(contractId) });
      assert.equal(q1.json.data.bizStatus, 'CONTRACT_SIGNED');
      assert.match(q1.text, new RegExp(`"contractId":${contractId},`));
      assert.match(q1.json.data.openUserId, /^[0-9a-f]{32}$/);
      const w = await hook(contractId, 'CONTRACT_SIGNED');
      assert.equal(w.bizType, 'DIRECT_DEBIT_CT');
      assert.equal(w.bizIdRaw, contractId);
      assert.deepEqual(w.data, {
        merchantContractCode: body.merchantContractCode,
        contractId: Number(contractId),
        serviceName: 'Gym Membership',
        openUserId: q1.json.data.openUserId,
        merchantAccountNo: 'alice@example.com',
        singleUpperLimit: 30,
        currency: 'USDT',
      });
      assert.match(w.dataText, /"singleUpperLimit":30\.00000000/);
      // Signed: a second AGREE is refused and changes nothing.
      const again = await t.admin('POST', `/sandbox/v1/contracts/${d.preContractId}/decision`, {
        payerEmail: alice.email,
        decision: 'AGREE',
      });
      assert.equal(again.status, 409);
    });

    test('create: every field rule and code (a table); nothing is stored', async () => {
      const first = firstOfNextMonth();
      const day29 = Date.UTC(new Date(first).getUTCFullYear(), new Date(first).getUTCMonth(), 29, 10);
      const cases: [string, Record<string, unknown>, string, RegExp?][] = [
        ['missing code', onDemand({ merchantContractCode: undefined }), '400100'],
        ['code with a dash', onDemand({ merchantContractCode: 'a-b' }), '400101'],
        ['code of 33', onDemand({ merchantContractCode: 'a'.repeat(33) }), '400101'],
        ['serviceName missing', onDemand({ serviceName: undefined }), '400100'],
        ['serviceName of 33', onDemand({ serviceName: 's'.repeat(33) }), '400101'],
        ['unknown scenario', onDemand({ scenarioCode: 'Gambling' }), '400102'],
        ['limit 0', onDemand({ singleUpperLimit: 0 }), '400102'],
        ['limit 9 dp', onDemand({ singleUpperLimit: '1.123456789' }), '400101'],
        ['limit over the scenario limit', onDemand({ singleUpperLimit: '10000.00000001' }), '400102', /scenario/],
        ['fiat currency', onDemand({ currency: 'EUR' }), '400102'],
        ['periodic missing', onDemand({ periodic: undefined }), '400100'],
        ['periodic a string', onDemand({ periodic: 'yes' }), '400100'],
        ['periodic without cycleType', monthly({ cycleType: undefined }), '400100', /cycleType/],
        ['periodic without cycleDebitFixed', monthly({ cycleDebitFixed: undefined }), '400100'],
        ['periodic without cycleValue', monthly({ cycleValue: undefined }), '400100'],
        ['periodic without firstDeductTime', monthly({ firstDeductTime: undefined }), '400100'],
        ['cycleType WEEK', monthly({ cycleType: 'WEEK' }), '400102'],
        ['MONTH 0', monthly({ cycleValue: 0 }), '400102'],
        ['MONTH 25', monthly({ cycleValue: 25 }), '400102'],
        ['DAY 7', monthly({ cycleType: 'DAY', cycleValue: 7 }), '400102'],
        ['firstDeductTime past', monthly({ firstDeductTime: now() - 1 }), '400102'],
        ['MONTH on the 29th', monthly({ firstDeductTime: day29 }), '400102', /28/],
        ['merchantAccountNo of 65', onDemand({ merchantAccountNo: 'a'.repeat(65) }), '400101'],
        ['requestExpireTime past', onDemand({ requestExpireTime: now() }), '400102'],
        ['requestExpireTime > 7 d', onDemand({ requestExpireTime: now() + 7 * DAY + 1 }), '400102'],
        ['contractEndTime > 1095 d', onDemand({ contractEndTime: now() + 1095 * DAY + 1 }), '400102'],
        ['contractEndTime past', onDemand({ contractEndTime: now() - 1 }), '400102'],
        ['webhookUrl not http', onDemand({ webhookUrl: 'ftp://x.example' }), '400101'],
        ['subMerchantId not ours', onDemand({ subMerchantId: '2107268400000001' }), '400206'],
      ];
      const before = await snap0(t);
      for (const [name, body, code, message] of cases) {
        const r = await m.client.post('/direct-debit/contract', body);
        assert.equal(r.json.code, code, `${name}: ${r.text}`);
        if (message) assert.match(r.json.errorMessage, message, name);
      }
      assert.deepEqual(await snap0(t), before);
      // The edges that pass: DAY 8, MONTH 24 on the 28th, USDC, a 7-day request window.
      const d28 = Date.UTC(new Date(first).getUTCFullYear(), new Date(first).getUTCMonth(), 28, 10);
      for (const body of [
        monthly({ cycleType: 'DAY', cycleValue: 8 }),
        monthly({ cycleValue: 24, firstDeductTime: d28 }),
        onDemand({ currency: 'USDC', requestExpireTime: now() + 7 * DAY, singleUpperLimit: '10000' }),
      ])
        await create(body);
    });

    test('create is idempotent by merchantContractCode: same → same answer, different → 400102', async () => {
      const body = onDemand();
      const a = await create(body);
      const b = await create({ ...body, singleUpperLimit: '30.000' });
      assert.deepEqual(b, a);
      const before = await snap0(t);
      const c = await m.client.post('/direct-debit/contract', { ...body, singleUpperLimit: 31 });
      assert.equal(c.json.code, '400102');
      assert.equal(
        c.json.errorMessage,
        `merchantContractCode ${body.merchantContractCode} was already used with different parameters.`,
      );
      // Concurrent twins: one contract.
      const twin = onDemand();
      const all = await Promise.all(Array.from({ length: 6 }, () => create(twin)));
      assert.equal(new Set(all.map((x) => x.preContractId)).size, 1);
      const n = await t.db.query(`SELECT count(*) AS n FROM pay_dd_contracts WHERE merchant_contract_code = $1`, [
        twin.merchantContractCode,
      ]);
      assert.equal(Number(n.rows[0].n), 1);
      assert.equal((await snap0(t)).pay_dd_contracts, before.pay_dd_contracts! + 1);
    });

    test('query and termination: refs, 406207, 406212, way 3 once with one webhook', async () => {
      assert.equal((await query({})).json.code, '400100');
      assert.equal((await query({ contractId: '4503599627379999' })).json.code, '406207');
      assert.equal((await query({ merchantContractCode: 'nope' })).json.code, '406207');
      assert.equal((await query({ contractId: 'x1' })).json.code, '400101');
      const body = onDemand();
      const { preContractId } = await create(body);
      const term = (ref: Record<string, unknown>) =>
        m.client.post('/direct-debit/contract/termination', { terminationNotes: 'moved away', ...ref });
      assert.equal((await term({ merchantContractCode: body.merchantContractCode })).json.code, '406212');
      const contractId = await sign(preContractId);
      // Another merchant cannot see or end it.
      const other = await createMerchant(t, { name: 'Other Shop' });
      assert.equal((await query({ contractId }, other.client)).json.code, '406207');
      assert.equal((await other.client.post('/direct-debit/contract/termination', { contractId })).json.code, '406207');
      const r = await term({ contractId });
      assert.deepEqual(r.json, { status: 'SUCCESS', code: '000000', data: true, errorMessage: null });
      const q = (await query({ contractId })).json.data;
      assert.equal(q.bizStatus, 'CONTRACT_TERMINATED');
      assert.equal(q.contractTerminationWay, 3);
      assert.equal(q.contractTerminationTime, now());
      const w = await hook(contractId, 'CONTRACT_TERMINATED');
      assert.equal(w.data.contractTerminationWay, 3);
      assert.equal((await term({ contractId })).json.data, true);
      await deliver();
      assert.equal(received(contractId, 'CONTRACT_TERMINATED').length, 1, 'no second webhook');
      // A terminated contract is not debited.
      assert.equal((await apply(contractId)).json.code, '406212');
    });

    test('expiry: an unsigned request after requestExpireTime (no webhook, page says expired); a signed one at contractEndTime (way 1)', async () => {
      const a = await create(onDemand({ requestExpireTime: now() + 2 * HOUR }));
      const endsSoon = onDemand({ contractEndTime: now() + 3 * HOUR });
      const contractId = await signed(endsSoon);
      await advance(2 * HOUR);
      assert.match(await (await fetch(a.qrContent)).text(), /This request has expired/);
      await drive();
      const refused = await t.admin('POST', `/sandbox/v1/contracts/${a.preContractId}/decision`, {
        payerEmail: alice.email,
        decision: 'AGREE',
      });
      assert.equal(refused.status, 409);
      const unsigned = await t.db.query(`SELECT status FROM pay_dd_contracts WHERE pre_contract_id = $1`, [
        a.preContractId,
      ]);
      assert.equal(unsigned.rows[0].status, 'CONTRACT_EXPIRED');
      assert.equal((await query({ contractId })).json.data.bizStatus, 'CONTRACT_SIGNED');
      await advance(HOUR);
      await drive();
      const q = (await query({ contractId })).json.data;
      assert.equal(q.bizStatus, 'CONTRACT_EXPIRED');
      assert.equal(q.contractTerminationWay, 1);
      await hook(contractId, 'CONTRACT_EXPIRED');
      assert.equal((await apply(contractId)).json.code, '406212');
    });

    test('every action × every state it does not apply to is refused and changes nothing (a table)', async () => {
      const periodic = () => monthly({ firstDeductTime: now() + 30 * DAY, cycleType: 'DAY', cycleValue: 30 });
      // EXPIRED first (the clock moves), then TERMINATED, then SIGNED and INITIAL.
      const expired = await signed({ ...periodic(), contractEndTime: now() + 2 * HOUR, firstDeductTime: now() + HOUR });
      await advance(2 * HOUR);
      await drive();
      const terminated = await signed(periodic());
      assert.equal(
        (await m.client.post('/direct-debit/contract/termination', { contractId: terminated })).json.data,
        true,
      );
      const initial = await create(periodic());
      await deliver();
      const ids: Record<string, { pre: string; contractId: string | null }> = {
        INITIAL: { pre: initial.preContractId, contractId: null },
        CONTRACT_TERMINATED: { pre: await preOf(terminated), contractId: terminated },
        CONTRACT_EXPIRED: { pre: await preOf(expired), contractId: expired },
      };
      const actions: Record<string, (x: { pre: string; contractId: string | null }) => Promise<string>> = {
        agree: async (x) =>
          String(
            (
              await t.admin('POST', `/sandbox/v1/contracts/${x.pre}/decision`, {
                payerEmail: alice.email,
                decision: 'AGREE',
              })
            ).status,
          ),
        terminate: async (x) =>
          (
            await m.client.post(
              '/direct-debit/contract/termination',
              x.contractId ? { contractId: x.contractId } : { merchantContractCode: await codeOf(x.pre) },
            )
          ).text,
        'terminate-by-payer': async (x) =>
          String((await t.admin('POST', `/sandbox/v1/contracts/${x.contractId ?? x.pre}/terminate-by-payer`)).status),
        'operator-terminate': async (x) =>
          String((await t.admin('POST', `/admin/v1/contracts/${x.contractId ?? x.pre}/terminate`, {})).status),
        notify: async (x) => (await notify(x.contractId ?? x.pre)).json.code,
        apply: async (x) => (await apply(x.contractId ?? x.pre, { preBizId: '1' })).json.code,
      };
      const TERMINATED_AGAIN = '{"status":"SUCCESS","code":"000000","data":true,"errorMessage":null}';
      const expected: Record<string, Record<string, string>> = {
        INITIAL: {
          agree: '', // applies (checked last)
          terminate: '406212',
          'terminate-by-payer': '404',
          'operator-terminate': '404',
          notify: '406207',
          apply: '406207',
        },
        CONTRACT_TERMINATED: {
          agree: '409',
          terminate: TERMINATED_AGAIN,
          'terminate-by-payer': '200',
          'operator-terminate': '200',
          notify: '406212',
          apply: '406212',
        },
        CONTRACT_EXPIRED: {
          agree: '409',
          terminate: '406212',
          'terminate-by-payer': '409',
          'operator-terminate': '409',
          notify: '406212',
          apply: '406212',
        },
      };
      for (const [state, x] of Object.entries(ids))
        for (const [action, run] of Object.entries(actions)) {
          const want = expected[state]![action]!;
          if (!want) continue;
          const before = await snap0(t);
          const hooksBefore = receiver.received.length;
          const got = await run(x);
          if (want.startsWith('{')) assert.equal(got, want, `${action} on ${state}`);
          else assert.ok(got === want || got.includes(`"code":"${want}"`), `${action} on ${state}: ${got}`);
          await deliver();
          assert.deepEqual(await snap0(t), before, `${action} on ${state} changed something`);
          assert.equal(receiver.received.length, hooksBefore, `${action} on ${state} sent a webhook`);
        }
      // The one that applies: INITIAL → signed.
      assert.equal(await actions.agree!(ids.INITIAL!), '200');
    });

    test('the operator terminates a signed contract: way 2, webhook', async () => {
      const contractId = await signed(onDemand());
      const r = await t.admin('POST', `/admin/v1/contracts/${contractId}/terminate`, { notes: 'fraud report' });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const w = await hook(contractId, 'CONTRACT_TERMINATED');
      assert.equal(w.data.contractTerminationWay, 2);
      assert.equal((await query({ contractId })).json.data.contractTerminationWay, 2);
    });

    // ---- debits ----

    test('on-demand debit: PROCESSING, paid by the worker from the signer → PAID, money moved, PAY_SUCCESS', async () => {
      const bob = await createPayer(t, `bob-dd-${kind}@example.com`, { USDT: '50' });
      const contractId = await signed(onDemand(), bob.email);
      const merchantBefore = await merchantBalance(m.merchantId);
      const merchantRequestId = key();
      const r = await apply(contractId, { merchantRequestId, amount: 30, productType: 'Wash' });
      assert.equal(r.json.status, 'SUCCESS', r.text);
      assert.deepEqual(Object.keys(r.json.data), ['orderId', 'prepayId', 'merchantRequestId', 'appliedTime', 'status']);
      assert.equal(r.json.data.status, 'PROCESSING');
      assert.equal(r.json.data.merchantRequestId, merchantRequestId);
      assert.equal(r.json.data.appliedTime, now());
      assert.match(r.json.data.orderId, /^\d{18,19}$/);
      const { prepayId } = r.json.data;
      const o = await orderOf(prepayId);
      assert.equal(o.status, 'INITIAL');
      assert.equal(o.merchantTradeNo, merchantRequestId);
      // Same key, same parameters: the stored answer; different: 400102.
      assert.deepEqual(
        (await apply(contractId, { merchantRequestId, amount: '30.0', productType: 'Wash' })).json.data,
        r.json.data,
      );
      assert.equal(
        (await apply(contractId, { merchantRequestId, amount: 29, productType: 'Wash' })).json.code,
        '400102',
      );
      await drive();
      assert.equal((await orderOf(prepayId)).status, 'PAID');
      assert.equal(await payerBalance(bob.payerId), '20');
      assert.ok(Number(await merchantBalance(m.merchantId)) > Number(merchantBefore));
      const w = await hook(prepayId, 'PAY_SUCCESS');
      assert.equal(w.bizType, 'PAY');
      assert.equal(w.data.merchantTradeNo, merchantRequestId);
      const steps = await dd.debits(contractId);
      assert.deepEqual(
        steps.map((s) => s.step),
        ['SUCCESS'],
      );
      // A merchantTradeNo that exists already → 400201.
      const taken = await m.client.post('/v3/order', v3Order());
      const tradeNo = (await orderOf(taken.json.data.prepayId)).merchantTradeNo;
      assert.equal((await apply(contractId, { merchantRequestId: tradeNo })).json.code, '400201');
    });

    test('a debit order is paid only from its signer; a crash between the reservation and the order is recovered', async () => {
      const gus = await createPayer(t, `gus-dd-${kind}@example.com`, { USDT: '40' });
      const contractId = await signed(onDemand(), gus.email);
      const r = await apply(contractId, { amount: 7 });
      const { prepayId } = r.json.data;
      // Someone else paying the debit's order (its checkout, the sandbox's pay button): refused, nothing moves.
      const other = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: alice.email });
      assert.equal(other.status, 409, JSON.stringify(other.json));
      assert.equal((await orderOf(prepayId)).status, 'INITIAL');
      // As if the process died after creating the order but before recording it: the worker finds the order by its
      // merchantTradeNo, adopts it and pays it, once.
      await t.db.query(
        `UPDATE pay_dd_debits SET step = 'ORDERING', prepay_id = NULL, lease_until = 0 WHERE prepay_id = $1`,
        [prepayId],
      );
      await drive();
      assert.equal((await orderOf(prepayId)).status, 'PAID');
      assert.deepEqual(
        (await dd.debits(contractId)).map((d) => [d.step, d.prepayId]),
        [['SUCCESS', prepayId]],
      );
      assert.equal(await payerBalance(gus.payerId), '33');
    });

    test('apply rules: a table of refusals that change nothing', async () => {
      const contractId = await signed(onDemand({ singleUpperLimit: 20 }));
      const unsigned = await create(onDemand());
      const cases: [string, Record<string, unknown>, string][] = [
        ['amount over the limit', { amount: '20.00000001' }, '400102'],
        ['amount 0', { amount: 0 }, '400102'],
        ['amount 9 dp', { amount: '1.000000001' }, '400101'],
        ['other currency', { currency: 'USDC' }, '400102'],
        ['fiat currency', { currency: 'USD' }, '400102'],
        ['tradeMode', { tradeMode: 'PAY' }, '400102'],
        ['no productName', { productName: undefined }, '400100'],
        ['productType of 17', { productType: 'p'.repeat(17) }, '400101'],
        ['key with a dash', { merchantRequestId: 'a-b' }, '400101'],
        ['unknown contract', { bizId: '4503599627370001' }, '406207'],
        ['bizId not a number', { bizId: 'abc' }, '400101'],
        ['webhookUrl', { webhookUrl: 'nope' }, '400101'],
      ];
      const before = await snap0(t);
      for (const [name, over, code] of cases) {
        const r = await apply(contractId, over);
        assert.equal(r.json.code, code, `${name}: ${r.text}`);
      }
      // An unsigned request has no contractId: nothing to debit (its preContractId is no contractId).
      assert.equal((await apply(unsigned.preContractId)).json.code, '406207');
      assert.deepEqual(await snap0(t), before);
    });

    test('a payer who is short: ERROR + PAY_CLOSED, nothing moves; the contract stays signed', async () => {
      const carol = await createPayer(t, `carol-dd-${kind}@example.com`, { USDT: '5' });
      const contractId = await signed(onDemand(), carol.email);
      const r = await apply(contractId, { amount: 6 });
      assert.equal(r.json.data.status, 'PROCESSING');
      await drive();
      assert.equal((await orderOf(r.json.data.prepayId)).status, 'ERROR');
      await hook(r.json.data.prepayId, 'PAY_CLOSED');
      assert.equal(await payerBalance(carol.payerId), '5');
      assert.deepEqual(
        (await dd.debits(contractId)).map((d) => d.step),
        ['FAILED'],
      );
      assert.equal((await query({ contractId })).json.data.bizStatus, 'CONTRACT_SIGNED');
    });

    test('periodic: notify (mail), 24-hour rule, firstDeductTime, one debit per period, notice used once', async () => {
      const dave = await createPayer(t, `dave-dd-${kind}@example.com`, { USDT: '100' });
      const first = now() + 2 * DAY;
      const contractId = await signed(
        monthly({ firstDeductTime: first, cycleType: 'DAY', cycleValue: 10 }),
        dave.email,
      );
      // Notice rules.
      assert.equal((await notify(contractId, { estimatedAmount: '30.00000001' })).json.code, '400102');
      assert.equal((await notify(contractId, { currency: 'USDC' })).json.code, '400102');
      assert.equal((await notify('4503599627370002')).json.code, '406207');
      const onDemandId = await signed(onDemand());
      const np = await notify(onDemandId);
      assert.equal(np.json.code, '400102');
      assert.equal(np.json.errorMessage, 'Notification is only for periodic contracts.');
      const notice = key();
      const n = await notify(contractId, { merchantRequestId: notice, estimatedAmount: 12 });
      assert.equal(n.json.status, 'SUCCESS', n.text);
      assert.deepEqual(Object.keys(n.json.data), ['orderId', 'merchantRequestId', 'transactionTime']);
      assert.equal(n.json.data.transactionTime, now());
      assert.deepEqual(
        (await notify(contractId, { merchantRequestId: notice, estimatedAmount: '12.0' })).json.data,
        n.json.data,
      );
      assert.equal((await notify(contractId, { merchantRequestId: notice, estimatedAmount: 11 })).json.code, '400102');
      await deliver();
      const mails = await t.app.services.mailer.list(dave.email);
      assert.equal(mails.length, 1);
      assert.match(mails[0]!.text, /12 USDT/);
      const preBizId = n.json.data.orderId;
      // Within 24 h of the notice: refused. Without a notice: refused.
      assert.match((await apply(contractId, { preBizId, amount: 12 })).json.errorMessage, /24 hours/);
      assert.match((await apply(contractId, { amount: 12 })).json.errorMessage, /preBizId/);
      await advance(DAY);
      // Before firstDeductTime (2 days after the contract): refused.
      assert.match((await apply(contractId, { preBizId, amount: 12 })).json.errorMessage, /firstDeductTime/);
      await advance(DAY);
      assert.match((await apply(contractId, { preBizId, amount: '12.00000001' })).json.errorMessage, /estimatedAmount/);
      const ok1 = await apply(contractId, { preBizId, amount: 11 });
      assert.equal(ok1.json.data?.status, 'PROCESSING', ok1.text);
      // The notice is used; a second notice in the same 10-day window is refused by the period rule.
      assert.match((await apply(contractId, { preBizId, amount: 1 })).json.errorMessage, /already used/);
      const n2 = (await notify(contractId, { estimatedAmount: 12 })).json.data.orderId;
      await advance(DAY);
      assert.match((await apply(contractId, { preBizId: n2, amount: 12 })).json.errorMessage, /this period/);
      await drive();
      assert.equal(await payerBalance(dave.payerId), '89');
      // The next window (10 days after firstDeductTime) takes the second notice.
      await advance(9 * DAY);
      const ok2 = await apply(contractId, { preBizId: n2, amount: 12 });
      assert.equal(ok2.json.data?.status, 'PROCESSING', ok2.text);
      await drive();
      assert.equal(await payerBalance(dave.payerId), '77');
    });

    test('fixed-amount contract: the debit must equal the notice', async () => {
      const contractId = await signed(
        monthly({ cycleDebitFixed: true, firstDeductTime: now() + HOUR, cycleType: 'DAY', cycleValue: 30 }),
      );
      const preBizId = (await notify(contractId, { estimatedAmount: 15 })).json.data.orderId;
      await advance(DAY);
      assert.match((await apply(contractId, { preBizId, amount: 14 })).json.errorMessage, /must equal/);
      assert.equal((await apply(contractId, { preBizId, amount: '15.0' })).json.data?.status, 'PROCESSING');
      await drive();
    });

    test('race: concurrent debits in one period window → exactly one accepted; twins of one key → one debit', async () => {
      const erin = await createPayer(t, `erin-dd-${kind}@example.com`, { USDT: '100' });
      const contractId = await signed(
        monthly({ firstDeductTime: now() + HOUR, cycleType: 'DAY', cycleValue: 30 }),
        erin.email,
      );
      const notices: string[] = [];
      for (let i = 0; i < 6; i++) notices.push((await notify(contractId, { estimatedAmount: 10 })).json.data.orderId);
      await advance(DAY);
      const results = await Promise.all(notices.map((preBizId) => apply(contractId, { preBizId, amount: 10 })));
      const accepted = results.filter((r) => r.json.status === 'SUCCESS');
      assert.equal(accepted.length, 1, results.map((r) => r.text).join('\n'));
      for (const r of results.filter((x) => x.json.status !== 'SUCCESS')) assert.equal(r.json.code, '400102');
      // One key sent five times at once: one debit, the same answer to every request.
      const other = await signed(onDemand(), erin.email);
      const sameKey = key();
      const twins = await Promise.all(Array.from({ length: 5 }, () => apply(other, { merchantRequestId: sameKey })));
      const answers = twins.filter((r) => r.json.status === 'SUCCESS').map((r) => JSON.stringify(r.json.data));
      assert.equal(answers.length, 5, twins.map((r) => r.text).join('\n'));
      assert.equal(new Set(answers).size, 1);
      await drive();
      assert.equal(await payerBalance(erin.payerId), '80');
      const n = await t.db.query(`SELECT count(*) AS n FROM pay_dd_debits WHERE contract_id = $1`, [other]);
      assert.equal(Number(n.rows[0].n), 1);
    });

    test('race: many on-demand debits against a small balance never overdraw the payer', async () => {
      const fay = await createPayer(t, `fay-dd-${kind}@example.com`, { USDT: '25' });
      const contractId = await signed(onDemand(), fay.email);
      const results = await Promise.all(Array.from({ length: 8 }, () => apply(contractId, { amount: 10 })));
      assert.ok(results.every((r) => r.json.data?.status === 'PROCESSING'));
      await drive();
      const steps = (await dd.debits(contractId)).map((d) => d.step).sort();
      assert.deepEqual(steps, ['FAILED', 'FAILED', 'FAILED', 'FAILED', 'FAILED', 'FAILED', 'SUCCESS', 'SUCCESS']);
      assert.equal(await payerBalance(fay.payerId), '5');
    });

    // ---- sign while paying (§14.9) ----

    test('directDebitContract on create order: paying signs it (PAY_SUCCESS then CONTRACT_SIGNED); closing expires it silently', async () => {
      const code = key();
      const terms = { ...monthly({ merchantContractCode: code }), currency: undefined };
      const o = await m.client.post('/v3/order', v3Order({ orderAmount: '5', directDebitContract: terms }));
      assert.equal(o.json.status, 'SUCCESS', o.text);
      const q0 = (await query({ merchantContractCode: code })).json.data;
      assert.equal(q0.bizStatus, 'INITIAL');
      // The same code again on another order, or a bad term: refused with the field's code.
      assert.equal((await m.client.post('/v3/order', v3Order({ directDebitContract: terms }))).json.code, '400102');
      assert.equal(
        (
          await m.client.post(
            '/v3/order',
            v3Order({ directDebitContract: { ...terms, merchantContractCode: key(), cycleValue: 30 } }),
          )
        ).json.code,
        '400102',
      );
      assert.equal(
        (
          await m.client.post(
            '/v3/order',
            v3Order({ directDebitContract: { ...terms, merchantContractCode: key(), serviceName: undefined } }),
          )
        ).json.code,
        '400100',
      );
      // The signing page does not sign a contract tied to an order.
      const row = await t.db.query(`SELECT pre_contract_id FROM pay_dd_contracts WHERE merchant_contract_code = $1`, [
        code,
      ]);
      const viaPage = await t.admin('POST', `/sandbox/v1/contracts/${row.rows[0].pre_contract_id}/decision`, {
        payerEmail: alice.email,
        decision: 'AGREE',
      });
      assert.equal(viaPage.status, 409);
      const paid = await t.admin('POST', `/sandbox/v1/orders/${o.json.data.prepayId}/pay`, { payerEmail: alice.email });
      assert.equal(paid.status, 200, JSON.stringify(paid.json));
      const q1 = (await query({ merchantContractCode: code })).json.data;
      assert.equal(q1.bizStatus, 'CONTRACT_SIGNED');
      await hook(o.json.data.prepayId, 'PAY_SUCCESS');
      await hook(String(q1.contractId), 'CONTRACT_SIGNED');

      const code2 = key();
      const o2 = await m.client.post(
        '/v3/order',
        v3Order({ directDebitContract: { ...terms, merchantContractCode: code2 } }),
      );
      const closed = await m.client.post('/order/close', { prepayId: o2.json.data.prepayId });
      assert.equal(closed.json.status, 'SUCCESS', closed.text);
      const q2 = (await query({ merchantContractCode: code2 })).json.data;
      assert.equal(q2.bizStatus, 'CONTRACT_EXPIRED');
      assert.equal(q2.contractId, undefined);
    });

    // ---- sub-merchants (§14.3: "merchant (or sub-merchant) name and logo") ----

    test("a contract naming a sub-merchant: the signing page and the payer's agreements show the sub-merchant", async () => {
      const partner = await createMerchant(t, { name: `Partner Platform ${kind}` });
      const p = await t.admin('PATCH', `/admin/v1/merchants/${partner.merchantId}`, {
        features: { channelPartner: true },
      });
      assert.equal(p.status, 200, JSON.stringify(p.json));
      const added = await partner.client.post('/submerchant/add', {
        merchantName: `Corner Bakery ${kind}`,
        merchantMcc: '1040',
        siteUrl: 'https://bakery.example',
        brandLogo: 'https://bakery.example/logo.png',
      });
      assert.equal(added.json.status, 'SUCCESS', added.text);
      const subMerchantId = String(added.json.data.subMerchantId);
      const viaSub = await create(onDemand({ subMerchantId }), partner.client);
      const own = await create(onDemand(), partner.client);

      const page = async (url: string, cookie?: string) => {
        const r = await fetch(url, { headers: cookie ? { cookie } : {} });
        assert.equal(r.status, 200);
        return r.text();
      };
      const sub = await page(viaSub.qrContent);
      assert.match(sub, new RegExp(`<strong id="merchant">Corner Bakery ${kind}</strong>`));
      assert.match(sub, /id="brand-logo" src="https:\/\/bakery\.example\/logo\.png"/);
      assert.doesNotMatch(sub, /Partner Platform/);
      // Without a sub-merchant the partner asks under its own name, without a logo.
      const plain = await page(own.qrContent);
      assert.match(plain, new RegExp(`<strong id="merchant">Partner Platform ${kind}</strong>`));
      assert.doesNotMatch(plain, /brand-logo/);

      // Signed, it is listed under the sub-merchant's name in the payer's agreements.
      await sign(viaSub.preContractId, alice.email);
      const s = await t.app.services.sessions.create('payer', String(alice.payerId));
      const list = await page(`${t.baseUrl}/wallet/contracts`, `rampart_payer=${s.cookie}`);
      assert.match(list, new RegExp(`<h2>Corner Bakery ${kind}</h2>`));
      assert.doesNotMatch(list, /<h2>Partner Platform/);
    });

    // ---- gate and TSP ----

    test('feature off → 400203 on every endpoint and on directDebitContract; TSP needs CHECKOUT and its IP list', async () => {
      const off = await createMerchant(t, { name: 'No DD Shop' });
      const patched = await t.admin('PATCH', `/admin/v1/merchants/${off.merchantId}`, {
        features: { directDebit: false },
      });
      assert.equal(patched.status, 200, JSON.stringify(patched.json));
      const before = await snap0(t);
      for (const [path, body] of [
        ['/direct-debit/contract', onDemand()],
        ['/direct-debit/contract/query', { merchantContractCode: 'x' }],
        ['/direct-debit/contract/termination', { merchantContractCode: 'x' }],
        [
          '/pay/notify',
          { merchantRequestId: 'x', tradeMode: 'DIRECT_DEBIT', bizId: '1', estimatedAmount: 1, currency: 'USDT' },
        ],
        [
          '/pay/apply',
          {
            merchantRequestId: 'x',
            tradeMode: 'DIRECT_DEBIT',
            bizId: '1',
            amount: 1,
            currency: 'USDT',
            productName: 'p',
          },
        ],
      ] as const) {
        const r = await off.client.post(path, body);
        assert.equal(r.json.code, '400203', `${path}: ${r.text}`);
      }
      const o = await off.client.post(
        '/v3/order',
        v3Order({ directDebitContract: { ...monthly(), currency: undefined } }),
      );
      assert.equal(o.json.code, '400203', o.text);
      assert.deepEqual(await snap0(t), before);

      // A TSP with CHECKOUT acts for the merchant; without it, or from outside its IP list: 400004.
      const shop = await createMerchant(t, { name: 'TSP DD Shop' });
      const a = await authorize(t, tsp, shop.merchantId, ['CHECKOUT']);
      const body = onDemand();
      const r = await tsp.client.post('/direct-debit/contract', { [FIELD]: a.authorizationToken, ...body });
      assert.equal(r.json.status, 'SUCCESS', r.text);
      assert.equal(r.json.data.merchantId, Number(shop.merchantId));
      assert.equal(
        (await query({ merchantContractCode: body.merchantContractCode }, shop.client)).json.data.bizStatus,
        'INITIAL',
      );
      for (const [scopes, ips] of [
        [['REFUND'], []],
        [['CHECKOUT'], ['10.1.2.3']],
      ] as const) {
        const token = (await authorize(t, tsp, shop.merchantId, [...scopes], [...ips])).authorizationToken;
        const snap = await snap0(t);
        const x = await tsp.client.post('/direct-debit/contract', { [FIELD]: token, ...onDemand() });
        assert.equal(x.json.code, '400004', x.text);
        const y = await tsp.client.post('/direct-debit/contract/query', {
          [FIELD]: token,
          merchantContractCode: body.merchantContractCode,
        });
        assert.equal(y.json.code, '400004', y.text);
        assert.deepEqual(await snap0(t), snap);
      }
    });
  });
}

describe('direct debit scenario limit: the operator setting pay.directDebitScenarioLimitUsd (§14.2)', () => {
  test('PAY_DIRECT_DEBIT_SCENARIO_LIMIT_USD: default 50 in production and 10000 in the sandbox; set, it wins', () => {
    const production = {
      RAMPART_MODE: 'production',
      ADMIN_TOKEN: randomBytes(24).toString('hex'),
      SECRETS_KEY: randomBytes(32).toString('hex'),
      PUBLIC_URL: 'https://pay.example.com',
      PRICE_FEED_URL: 'https://prices.example.com/api/v3/ticker/price',
    };
    assert.equal(loadConfig(production).pay.directDebitScenarioLimitUsd, '50');
    assert.equal(loadConfig({ RAMPART_MODE: 'sandbox' }).pay.directDebitScenarioLimitUsd, '10000');
    const set = { PAY_DIRECT_DEBIT_SCENARIO_LIMIT_USD: '250.5' };
    assert.equal(loadConfig({ ...production, ...set }).pay.directDebitScenarioLimitUsd, '250.5');
    assert.equal(loadConfig({ RAMPART_MODE: 'sandbox', ...set }).pay.directDebitScenarioLimitUsd, '250.5');
    assert.throws(
      () => loadConfig({ PAY_DIRECT_DEBIT_SCENARIO_LIMIT_USD: 'fifty' }),
      /PAY_DIRECT_DEBIT_SCENARIO_LIMIT_USD must be a decimal number/,
    );
  });

  test('a sandbox set to 20 USD refuses a larger singleUpperLimit (contract and directDebitContract: 400102, nothing stored) and takes one within it', async () => {
    const t = await startTestApp({ env: { PAY_DIRECT_DEBIT_SCENARIO_LIMIT_USD: '20' } });
    try {
      const m = await createMerchant(t, { name: 'Limited DD Shop' });
      // 25 USDT is well within the sandbox default (10000 USD), so only the setting refuses it.
      const terms = (limit: number) => ({
        merchantContractCode: `LIM${limit}${Date.now()}`,
        serviceName: 'Parking',
        scenarioCode: 'Car_Parking',
        singleUpperLimit: limit,
        periodic: false,
      });
      const before = await snapshot(t.db);
      const over = await m.client.post('/direct-debit/contract', { ...terms(25), currency: 'USDT' });
      assert.equal(over.json.code, '400102', over.text);
      assert.match(over.json.errorMessage, /scenario limit of 20 USD/);
      const overOrder = await m.client.post('/v3/order', v3Order({ directDebitContract: terms(25) }));
      assert.equal(overOrder.json.code, '400102', overOrder.text);
      assert.deepEqual(await snapshot(t.db), before);
      const within = await m.client.post('/direct-debit/contract', { ...terms(15), currency: 'USDT' });
      assert.equal(within.json.status, 'SUCCESS', within.text);
      const withinOrder = await m.client.post('/v3/order', v3Order({ directDebitContract: terms(15) }));
      assert.equal(withinOrder.json.status, 'SUCCESS', withinOrder.text);
      await assertAuditOk(t);
    } finally {
      await t.close();
    }
  });
});
