import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createWalletClient, http, parseUnits, type Address, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { ANVIL_DEV_MNEMONIC } from '../src/chain/anvil.ts';
import TestToken from '../src/chain/contracts/TestToken.json' with { type: 'json' };
import { evmChain, type EvmAdapter } from '../src/chain/evm.ts';
import { DEPOSIT_CREDITED_TOPIC } from '../src/chain/deposits.ts';
import { randomAddress } from './chain-fixture.ts';
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
import { formBrowser, type FormBrowser } from './support/form-browser.ts';

/**
 * Paying a hosted checkout from any wallet (issue #16) end to end on the embedded anvil: the checkout's on-chain
 * option, token transfers from an anvil dev account to the order's own address, the deposit watcher, the Pay side's
 * handling (exact, two transfers, over-, under- and late payment), the operator's refundable credits, and every
 * action replayed at every state.
 */

const agent = formBrowser;
type Agent = FormBrowser;

const ORDER_AMOUNT = '25.17';
const CONFIRMATIONS = 12;

for (const kind of DB_KINDS) {
  describe(`pay a checkout from another wallet (${kind})`, () => {
    let t: TestApp;
    let m: Awaited<ReturnType<typeof createMerchant>>;
    let eth: EvmAdapter;
    let sender: ReturnType<typeof createWalletClient>;
    const senderAccount = mnemonicToAccount(ANVIL_DEV_MNEMONIC, { addressIndex: 1 });

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      m = await createMerchant(t);
      eth = await t.app.services.chain.evm('ETH');
      const chain = evmChain(eth.chainId, 'ETH', eth.nativeAsset, eth.rpcUrl);
      sender = createWalletClient({ account: senderAccount, chain, transport: http(eth.rpcUrl) });
      // The payer's outside wallet holds test USDT and USDC, minted by the token deployer (anvil's first account).
      const deployer = createWalletClient({
        account: mnemonicToAccount(ANVIL_DEV_MNEMONIC),
        chain,
        transport: http(eth.rpcUrl),
      });
      for (const asset of ['USDT', 'USDC']) {
        const hash = await deployer.writeContract({
          address: eth.tokens.get(asset)!.address,
          abi: TestToken.abi,
          functionName: 'mint',
          args: [senderAccount.address, parseUnits('100000', 6)],
          chain,
          account: deployer.account,
        });
        await eth.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      }
    });
    after(async () => {
      if (t) await assertAuditOk(t);
      await t?.close();
    });

    const createOrder = async (overrides: Record<string, unknown> = {}) => {
      const r = await m.client.post(
        '/v3/order',
        v3Order({ orderAmount: ORDER_AMOUNT, currency: 'USDT', webhookUrl: 'http://127.0.0.1:9/hook', ...overrides }),
      );
      assert.equal(r.json.status, 'SUCCESS', r.text);
      const data = r.json.data as { prepayId: string; checkoutUrl: string };
      return { prepayId: data.prepayId, token: data.checkoutUrl.split('/').pop()! };
    };
    const choose = async (a: Agent, token: string, option = 'USDT@ETH') => {
      const page = await a.get(`/checkout/${token}/onchain`);
      // A page with no form left (paid, closed) is answered by replaying the form posted before: same cookie token.
      const csrf = a.csrfIn(page.body) || a.jar.get('rampart_csrf')!;
      return a.post(`/checkout/${token}/onchain`, { csrf, option });
    };
    const status = async (token: string) => {
      const r = await fetch(`${t.baseUrl}/checkout/${token}/onchain/status`);
      return { code: r.status, json: (await r.json()) as any };
    };
    const send = async (to: string, amount: string, asset = 'USDT'): Promise<Hex> => {
      const hash = await sender.writeContract({
        address: eth.tokens.get(asset)!.address,
        abi: TestToken.abi,
        functionName: 'transfer',
        args: [to as Address, parseUnits(amount, 6)],
        chain: sender.chain,
        account: senderAccount,
      });
      await eth.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      return hash;
    };
    const confirm = () =>
      eth.client.request({ method: 'anvil_mine' as any, params: [`0x${CONFIRMATIONS.toString(16)}`] });
    const until = async <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const v = await read();
        if (ok(v)) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const queryOrder = async (prepayId: string) =>
      (await m.client.post('/v2/order/query', { prepayId })).json.data as Record<string, any>;
    const untilIntent = (token: string, intentStatus: string) =>
      until(
        `intent ${intentStatus}`,
        () => status(token),
        (s) => s.json.intentStatus === intentStatus,
      );
    const balance = async (ownerType: 'payer' | 'pay_order' | 'merchant', ownerId: string, asset = 'USDT') =>
      (await t.app.services.ledger.balance(t.db, { ownerType, ownerId, asset })).available;
    const webhookData = async (prepayId: string, bizStatus: string) => {
      const rows = (
        await t.db.query(`SELECT payload FROM outbox WHERE topic = 'webhook' AND ordering_key = $1`, [
          `pay:${prepayId}`,
        ])
      ).rows.map((r) => (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload));
      const hook = rows.find((p) => p.bizStatus === bizStatus);
      return hook ? JSON.parse(JSON.parse(hook.body).data) : null;
    };

    test('the checkout offers another wallet: an address per order, with amount, network and QR code', async () => {
      const o1 = await createOrder();
      const o2 = await createOrder();
      const a = agent(t.baseUrl);
      const checkout = await a.get(`/checkout/${o1.token}`);
      assert.match(checkout.body, new RegExp(`href="/checkout/${o1.token}/onchain"`));
      assert.match(checkout.body, new RegExp(`href="/signup\\?next=%2Fcheckout%2F${o1.token}"`), 'sign-up link');
      const chooser = await a.get(`/checkout/${o1.token}/onchain`);
      assert.match(chooser.body, /value="USDT@ETH"/);
      assert.match(chooser.body, /value="USDC@ETH"/);
      assert.equal((await status(o1.token)).code, 404, 'no payment address before a choice');
      const chose = await choose(a, o1.token);
      assert.equal(chose.status, 303);
      assert.equal(chose.location, `/checkout/${o1.token}/onchain`);
      await choose(agent(t.baseUrl), o2.token);
      const s1 = (await status(o1.token)).json;
      const s2 = (await status(o2.token)).json;
      assert.match(s1.address, /^0x[0-9a-fA-F]{40}$/);
      assert.notEqual(s1.address, s2.address, 'one address per order');
      assert.deepEqual(
        [s1.asset, s1.network, s1.amount, s1.received, s1.remaining, s1.intentStatus],
        ['USDT', 'ETH', ORDER_AMOUNT, '0', ORDER_AMOUNT, 'AWAITING'],
      );
      const page = await a.get(`/checkout/${o1.token}/onchain`);
      assert.ok(page.body.includes(s1.address));
      assert.match(page.body, /id="copy-address"/);
      const uri =
        `ethereum:${eth.tokens.get('USDT')!.address}@${eth.chainId}/transfer?address=${s1.address}` +
        `&amp;uint256=25170000`;
      assert.ok(page.body.includes(uri), 'EIP-681 token transfer request');
      const qr = await fetch(`${t.baseUrl}/checkout/${o1.token}/onchain/qr.png`);
      assert.equal(qr.headers.get('content-type'), 'image/png');
    });

    test('an exact transfer pays the order like a balance payment: PAY_SUCCESS, query-order, paymentInfo', async () => {
      const o = await createOrder();
      await choose(agent(t.baseUrl), o.token);
      const { address } = (await status(o.token)).json;
      const merchantBefore = await balance('merchant', m.merchantId);
      const hash = await send(address, ORDER_AMOUNT);
      const seen = await until(
        'the transfer seen',
        () => status(o.token),
        (s) => s.json.transfers.length === 1,
      );
      assert.equal(seen.json.transfers[0].status, 'pending');
      assert.match(seen.json.message, /confirmations/);
      await confirm();
      const paid = await untilIntent(o.token, 'PAID');
      assert.equal(paid.json.orderStatus, 'PAID');
      assert.match(paid.json.message, /^Paid\./);
      const q = await queryOrder(o.prepayId);
      assert.equal(q.status, 'PAID');
      assert.equal(q.transactionId, `M_P_${o.prepayId}`);
      assert.deepEqual(q.paymentInfo, {
        payMethod: 'ONCHAIN',
        paymentInstructions: [{ currency: 'USDT', amount: 25.17, price: 1 }],
        network: 'ETH',
        transactions: [hash],
      });
      const hook = await webhookData(o.prepayId, 'PAY_SUCCESS');
      assert.equal(hook.totalFee, 25.17);
      assert.equal(hook.transactionId, `M_P_${o.prepayId}`);
      assert.deepEqual(hook.paymentInfo.transactions, [hash]);
      const net = (await balance('merchant', m.merchantId)) !== merchantBefore;
      assert.ok(net, 'the merchant is credited');
      assert.equal(await balance('pay_order', o.prepayId), '0', 'the escrow is emptied');
      const listed = await t.admin('GET', '/admin/v1/pay/onchain/credits');
      assert.ok(!listed.json.credits.some((c: any) => c.prepayId === o.prepayId), 'nothing was given back');

      // The merchant refunds it: nobody was logged in, so the refund waits in the escrow for the operator.
      const refund = await m.client.post('/order/refund', {
        refundRequestId: `onchain-${o.prepayId}`,
        prepayId: o.prepayId,
        refundAmount: '10',
      });
      assert.equal(refund.json.status, 'SUCCESS', refund.text);
      await until(
        'the refund settled',
        () => balance('pay_order', o.prepayId),
        (b) => b === '10',
      );
      const after = await t.admin('GET', '/admin/v1/pay/onchain/credits');
      const credit = after.json.credits.find((c: any) => c.prepayId === o.prepayId);
      assert.deepEqual(
        credit.refundable.map((b: any) => [b.asset, b.available]),
        [['USDT', '10']],
      );
    });

    test('two transfers for one order are summed; the remainder is shown until the second arrives', async () => {
      const o = await createOrder();
      await choose(agent(t.baseUrl), o.token);
      const { address } = (await status(o.token)).json;
      const first = await send(address, '10');
      await confirm();
      const partial = await until(
        'the first transfer counted',
        () => status(o.token),
        (s) => s.json.received === '10',
      );
      assert.equal(partial.json.remaining, '15.17');
      assert.equal(partial.json.intentStatus, 'AWAITING');
      assert.match(partial.json.message, /Send the remaining 15\.17 USDT/);
      assert.equal((await queryOrder(o.prepayId)).status, 'INITIAL');
      const second = await send(address, '15.17');
      await confirm();
      await untilIntent(o.token, 'PAID');
      const q = await queryOrder(o.prepayId);
      assert.deepEqual([...q.paymentInfo.transactions].sort(), [first, second].sort());

      // The chain's announcements delivered again (a worker that crashed before settling them) change nothing.
      const announced = (
        await t.db.query(`SELECT id, payload FROM outbox WHERE topic = $1 ORDER BY id`, [DEPOSIT_CREDITED_TOPIC])
      ).rows.filter((r) => (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload).ownerId === o.prepayId);
      assert.equal(announced.length, 2);
      const before = await snapshot(t.db, ['pay_nonces', 'outbox', 'webhook_delivery_attempts', 'chain_cursors']);
      for (const row of announced) {
        const outcome = await t.app.services.outboxHandlers[DEPOSIT_CREDITED_TOPIC]!(row);
        assert.deepEqual(outcome, { status: 'done' });
      }
      assert.deepEqual(
        await snapshot(t.db, ['pay_nonces', 'outbox', 'webhook_delivery_attempts', 'chain_cursors']),
        before,
      );
    });

    test('an order in a currency no network carries is priced like a balance payment, its quote locked', async () => {
      const o = await createOrder({ orderAmount: '0.0005', currency: 'BTC' });
      const a = agent(t.baseUrl);
      await choose(a, o.token);
      const chosen = (await status(o.token)).json;
      assert.equal(chosen.asset, 'USDT');
      assert.match(chosen.amount, /^\d+\.\d{1,6}$/, 'rounded up to the token decimals');
      // Ten minutes on, the sandbox price has moved: a new order is quoted differently, this one keeps its quote.
      t.clock.advance!(10 * 60_000);
      const fresh = await createOrder({ orderAmount: '0.0005', currency: 'BTC' });
      const freshPage = await a.get(`/checkout/${fresh.token}/onchain`);
      const freshDue = /<strong>([\d.]+) USDT<\/strong><br>\s*<span class="muted">on ETH/.exec(freshPage.body)?.[1];
      assert.ok(freshDue);
      assert.notEqual(freshDue, chosen.amount);
      assert.equal((await status(o.token)).json.amount, chosen.amount);
      const merchantBtc = await balance('merchant', m.merchantId, 'BTC');
      await send(chosen.address, chosen.amount);
      await confirm();
      await untilIntent(o.token, 'PAID');
      const q = await queryOrder(o.prepayId);
      assert.equal(q.status, 'PAID');
      assert.equal(q.paymentInfo.paymentInstructions[0].currency, 'USDT');
      assert.equal(q.paymentInfo.paymentInstructions[0].amount, Number(chosen.amount));
      assert.ok((await balance('merchant', m.merchantId, 'BTC')) !== merchantBtc, 'the merchant is paid in BTC');
    });

    test('overpayment by a logged-in payer: paid, and the surplus is credited to their balance and shown', async () => {
      const payer = await createPayer(t, `onchain-over-${kind}@example.com`, {});
      const o = await createOrder();
      const a = agent(t.baseUrl);
      const page = await a.get(`/checkout/${o.token}`);
      const login = await a.post(`/checkout/${o.token}/login`, {
        csrf: a.csrfIn(page.body),
        email: payer.email,
        password: payer.password,
      });
      assert.equal(login.status, 303);
      await choose(a, o.token);
      const { address } = (await status(o.token)).json;
      await send(address, '30');
      await confirm();
      const paid = await untilIntent(o.token, 'PAID');
      assert.equal(paid.json.returned, '4.83');
      assert.match(paid.json.message, /4\.83 USDT more than due; it was credited to your Rampart balance/);
      assert.equal(await balance('payer', payer.payerId), '4.83');
      const q = await queryOrder(o.prepayId);
      assert.equal(q.paymentInfo.payerId, Number(payer.payerId));
      assert.ok(q.openUserId, 'a known payer has an openUserId');
    });

    test('underpayment: open with the remainder until expiry, then a credit the operator refunds', async () => {
      const o = await createOrder();
      await choose(agent(t.baseUrl), o.token);
      const { address } = (await status(o.token)).json;
      await send(address, '12');
      await confirm();
      const partial = await until(
        '12 counted',
        () => status(o.token),
        (s) => s.json.received === '12',
      );
      assert.equal(partial.json.remaining, '13.17');
      t.clock.advance!(3_600_000 + 1000);
      const returned = await untilIntent(o.token, 'RETURNED');
      assert.equal(returned.json.returned, '12');
      assert.match(returned.json.message, /refundable credit/);
      assert.equal((await queryOrder(o.prepayId)).status, 'EXPIRED');
      assert.equal(await balance('pay_order', o.prepayId), '12', 'held for the payer, nobody was logged in');
      const listed = await t.admin('GET', '/admin/v1/pay/onchain/credits');
      const credit = listed.json.credits.find((c: any) => c.prepayId === o.prepayId);
      assert.equal(credit.creditedTo, 'REFUNDABLE');
      assert.deepEqual(
        credit.refundable.map((b: any) => [b.asset, b.available]),
        [['USDT', '12']],
      );
      const to = randomAddress();
      const body = { requestId: 'r-1', asset: 'USDT', network: 'ETH', address: to };
      const refund = await t.admin('POST', `/admin/v1/pay/onchain/credits/${o.prepayId}/refund`, body);
      assert.equal(refund.status, 200, JSON.stringify(refund.json));
      assert.equal(refund.json.amount, '12');
      const again = await t.admin('POST', `/admin/v1/pay/onchain/credits/${o.prepayId}/refund`, body);
      assert.equal(again.json.withdrawalId, refund.json.withdrawalId, 'a replay answers with the same withdrawal');
      const other = await t.admin('POST', `/admin/v1/pay/onchain/credits/${o.prepayId}/refund`, {
        ...body,
        requestId: 'r-2',
      });
      assert.equal(other.status, 409);
      assert.equal(other.json.error.code, 'NOTHING_TO_REFUND');
      await until(
        'the refund withdrawal completed',
        () => t.app.services.chain.withdrawals.get(refund.json.withdrawalId),
        (w) => {
          if (w?.status === 'broadcast' || w?.status === 'confirming') void confirm();
          return w?.status === 'completed';
        },
        30_000,
      );
      assert.equal(await balance('pay_order', o.prepayId), '0');
    });

    test('underpayment by a logged-in payer goes back to their balance at expiry', async () => {
      const payer = await createPayer(t, `onchain-under-${kind}@example.com`, {});
      const o = await createOrder();
      const a = agent(t.baseUrl);
      const page = await a.get(`/checkout/${o.token}`);
      await a.post(`/checkout/${o.token}/login`, {
        csrf: a.csrfIn(page.body),
        email: payer.email,
        password: payer.password,
      });
      await choose(a, o.token);
      await send((await status(o.token)).json.address, '7.5');
      await confirm();
      await until(
        '7.5 counted',
        () => status(o.token),
        (s) => s.json.received === '7.5',
      );
      t.clock.advance!(3_600_000 + 1000);
      await untilIntent(o.token, 'RETURNED');
      assert.equal(await balance('payer', payer.payerId), '7.5');
      assert.equal(await balance('pay_order', o.prepayId), '0');
    });

    test('a transfer seen before expiry holds the order (PENDING) and pays it when it confirms after expiry', async () => {
      const o = await createOrder();
      await choose(agent(t.baseUrl), o.token);
      const { address } = (await status(o.token)).json;
      // Mined in one block, short of its confirmations: seen, not credited.
      const hash = await send(address, ORDER_AMOUNT);
      const seen = await until(
        'the order held',
        () => status(o.token),
        (s) => s.json.orderStatus === 'PENDING',
      );
      assert.match(seen.json.message, /seen: \d+ of 12 confirmations/);
      assert.equal((await queryOrder(o.prepayId)).status, 'PENDING');
      // The order's time runs out while the transfer confirms: it is not expired, and the transfer still pays it.
      t.clock.advance!(3_600_000 + 1000);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await queryOrder(o.prepayId)).status, 'PENDING');
      await confirm();
      await untilIntent(o.token, 'PAID');
      const q = await queryOrder(o.prepayId);
      assert.equal(q.status, 'PAID');
      assert.deepEqual(q.paymentInfo.transactions, [hash]);
      assert.ok(await webhookData(o.prepayId, 'PAY_SUCCESS'));
      assert.equal(await webhookData(o.prepayId, 'PAY_CLOSED'), null, 'never closed');
    });

    test('a held order whose transfer confirms only after the grace period errs, and the transfer is credited late', async () => {
      const o = await createOrder();
      await choose(agent(t.baseUrl), o.token);
      const { address } = (await status(o.token)).json;
      await send(address, ORDER_AMOUNT);
      await until(
        'the order held',
        () => status(o.token),
        (s) => s.json.orderStatus === 'PENDING',
      );
      // Past expiry and the 10-minute grace with the transfer still unconfirmed: the order ends ERROR (PAY_CLOSED).
      t.clock.advance!(3_600_000 + 10 * 60_000 + 1000);
      await until(
        'the order errs',
        () => queryOrder(o.prepayId),
        (q) => q.status === 'ERROR',
      );
      await untilIntent(o.token, 'RETURNED');
      await confirm();
      const late = await until(
        'the transfer credited late',
        () => status(o.token),
        (s) => s.json.credits.length === 1,
      );
      assert.deepEqual(late.json.credits, [{ asset: 'USDT', amount: ORDER_AMOUNT }]);
      assert.equal(await balance('pay_order', o.prepayId), ORDER_AMOUNT, 'kept as a refundable credit');
      assert.equal(await webhookData(o.prepayId, 'PAY_SUCCESS'), null);
      assert.ok(await webhookData(o.prepayId, 'PAY_CLOSED'));
    });

    test('who pays is whoever chose last before anything arrived; a transfer seen fixes the asset', async () => {
      const payer = await createPayer(t, `onchain-rebind-${kind}@example.com`, {});
      const o = await createOrder();
      await choose(agent(t.baseUrl), o.token); // someone anonymous
      assert.equal((await status(o.token)).json.payerKnown, false);
      const a = agent(t.baseUrl);
      const page = await a.get(`/checkout/${o.token}`);
      await a.post(`/checkout/${o.token}/login`, {
        csrf: a.csrfIn(page.body),
        email: payer.email,
        password: payer.password,
      });
      assert.equal((await choose(a, o.token)).status, 303);
      assert.equal((await status(o.token)).json.payerKnown, true, 'the logged-in payer now stands behind the order');
      // A transfer in a block, not yet confirmed: switching the asset now would mis-file it.
      await send((await status(o.token)).json.address, '5');
      await until(
        'the transfer seen',
        () => status(o.token),
        (s) => s.json.transfers.length === 1,
      );
      assert.equal((await choose(a, o.token, 'USDC@ETH')).status, 409);
      assert.equal((await status(o.token)).json.asset, 'USDT');
    });

    test('a late transfer after expiry is credited, not lost, and visible to the operator', async () => {
      const o = await createOrder();
      await choose(agent(t.baseUrl), o.token);
      const { address } = (await status(o.token)).json;
      t.clock.advance!(3_600_000 + 1000);
      await untilIntent(o.token, 'RETURNED');
      const hash = await send(address, ORDER_AMOUNT);
      await confirm();
      const late = await until(
        'the late transfer credited',
        () => status(o.token),
        (s) => s.json.credits.length === 1,
      );
      assert.match(late.json.message, /arrived after that/);
      assert.equal((await queryOrder(o.prepayId)).status, 'EXPIRED');
      assert.equal(await balance('pay_order', o.prepayId), ORDER_AMOUNT);
      const listed = await t.admin('GET', '/admin/v1/pay/onchain/credits');
      const credit = listed.json.credits.find((c: any) => c.prepayId === o.prepayId);
      assert.deepEqual(
        credit.lateTransfers.map((l: any) => [l.txHash, l.amount]),
        [[hash, ORDER_AMOUNT]],
      );
    });

    test("a deposit to a payer's own address still credits the payer and announces nothing", async () => {
      const payer = await createPayer(t, `onchain-own-${kind}@example.com`, {});
      const { address } = await t.app.services.chain.depositAddress('payer', payer.payerId);
      const announced = async () =>
        Number(
          (await t.db.query(`SELECT count(*) AS n FROM outbox WHERE topic = $1`, [DEPOSIT_CREDITED_TOPIC])).rows[0].n,
        );
      const before = await announced();
      await send(address, '3');
      await confirm();
      await until(
        'the payer credited',
        () => balance('payer', payer.payerId),
        (b) => b === '3',
      );
      assert.equal(await announced(), before);
    });

    test('every action at every state: allowed ones apply once, refused ones change nothing', async () => {
      type State = 'open' | 'awaiting' | 'partial' | 'paid' | 'closed' | 'expired';
      const setUp: Record<State, () => Promise<{ prepayId: string; token: string }>> = {
        open: () => createOrder(),
        awaiting: async () => {
          const o = await createOrder();
          await choose(agent(t.baseUrl), o.token);
          return o;
        },
        partial: async () => {
          const o = await createOrder();
          await choose(agent(t.baseUrl), o.token);
          await send((await status(o.token)).json.address, '1');
          await confirm();
          await until(
            '1 counted',
            () => status(o.token),
            (s) => s.json.received === '1',
          );
          return o;
        },
        paid: async () => {
          const o = await createOrder();
          await choose(agent(t.baseUrl), o.token);
          await send((await status(o.token)).json.address, ORDER_AMOUNT);
          await confirm();
          await untilIntent(o.token, 'PAID');
          return o;
        },
        closed: async () => {
          const o = await createOrder();
          await choose(agent(t.baseUrl), o.token);
          assert.equal((await m.client.post('/order/close', { prepayId: o.prepayId })).json.data, true);
          return o;
        },
        expired: async () => {
          const o = await createOrder({ orderExpireTime: t.clock.now() + 60_000 });
          await choose(agent(t.baseUrl), o.token);
          t.clock.advance!(61_000);
          await untilIntent(o.token, 'RETURNED');
          await until(
            'the order expired',
            () => queryOrder(o.prepayId),
            (q) => q.status === 'EXPIRED',
          );
          return o;
        },
      };
      type Outcome = 'applies' | 'same' | 'refused';
      // Tables the background keeps writing whatever the action: nonces, outbox and webhook deliveries, the watcher.
      const QUIET = ['pay_nonces', 'outbox', 'webhook_delivery_attempts', 'chain_cursors'];
      const refund = (o: { prepayId: string }) =>
        t.admin('POST', `/admin/v1/pay/onchain/credits/${o.prepayId}/refund`, {
          requestId: `tbl-${o.prepayId}`,
          asset: 'USDT',
          network: 'ETH',
          address: randomAddress(),
        });
      const actions: Record<string, (o: { prepayId: string; token: string }) => Promise<number>> = {
        'choose USDT@ETH': async (o) => (await choose(agent(t.baseUrl), o.token)).status,
        'choose USDC@ETH': async (o) => (await choose(agent(t.baseUrl), o.token, 'USDC@ETH')).status,
        'choose an unknown option': async (o) => (await choose(agent(t.baseUrl), o.token, 'DOGE@ETH')).status,
        'choose without the form token': async (o) =>
          (await agent(t.baseUrl).post(`/checkout/${o.token}/onchain`, { option: 'USDT@ETH' })).status,
        'refund the credit': async (o) => (await refund(o)).status,
      };
      const expected: Record<string, Record<State, Outcome>> = {
        'choose USDT@ETH': {
          open: 'applies',
          awaiting: 'same',
          partial: 'same',
          paid: 'refused',
          closed: 'refused',
          expired: 'refused',
        },
        'choose USDC@ETH': {
          open: 'applies',
          awaiting: 'applies',
          partial: 'refused',
          paid: 'refused',
          closed: 'refused',
          expired: 'refused',
        },
        'choose an unknown option': {
          open: 'refused',
          awaiting: 'refused',
          partial: 'refused',
          paid: 'refused',
          closed: 'refused',
          expired: 'refused',
        },
        'choose without the form token': {
          open: 'refused',
          awaiting: 'refused',
          partial: 'refused',
          paid: 'refused',
          closed: 'refused',
          expired: 'refused',
        },
        'refund the credit': {
          open: 'refused',
          awaiting: 'refused',
          partial: 'refused',
          paid: 'refused',
          closed: 'refused',
          expired: 'refused',
        },
      };
      // Actions that change nothing share one order per state; an action that applies gets an order of its own.
      for (const state of Object.keys(setUp) as State[]) {
        let shared: { prepayId: string; token: string } | null = null;
        for (const [name, act] of Object.entries(actions)) {
          const want = expected[name]![state];
          const o = want === 'applies' ? await setUp[state]() : (shared ??= await setUp[state]());
          const before = await snapshot(t.db, QUIET);
          // Confirmations keep counting on the chain meanwhile: the payment is compared without its transfers.
          const progress = async () => {
            const { transfers: _, message: __, ...rest } = (await status(o.token)).json;
            return rest;
          };
          const intentBefore = await progress();
          const code = await act(o);
          const after = await snapshot(t.db, QUIET);
          const intentAfter = await progress();
          const label = `${name} on ${state}: ${code}`;
          if (want === 'refused') {
            assert.ok(code >= 400, label);
            assert.deepEqual(after, before, `${label} changed nothing`);
            assert.deepEqual(intentAfter, intentBefore, label);
          } else {
            assert.equal(code, 303, label);
            if (want === 'same') assert.deepEqual(after, before, `${label} changed nothing`);
            else assert.notDeepEqual(intentAfter, intentBefore, label);
          }
        }
      }
    });
  });
}
