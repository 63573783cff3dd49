import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Address } from 'viem';
import { platformAccount } from '../src/platform/ledger/service.ts';
import { randomAddress } from './chain-fixture.ts';
import { assertAuditOk, createMerchant, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';

/**
 * Hot wallet operations (issue #16): GET /admin/v1/chain/hot-wallets shows each hot wallet's on-chain balance beside
 * the ledger's inventory and the customer liabilities, with the withdrawals still to pay; a withdrawal the wallet
 * cannot pay waits (visible to the operator and on the settlement) and completes by itself once the wallet is topped
 * up.
 */
for (const kind of DB_KINDS) {
  describe(`hot wallet operations, workers running (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      // The workers run (chain every second, settlement every half second): nothing below is driven by hand.
      t = await startTestApp({ kind, workers: true });
    });
    after(async () => {
      if (t) await assertAuditOk(t);
      await t?.close();
    });

    const hotWallets = async () => {
      const r = await t.admin('GET', '/admin/v1/chain/hot-wallets');
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r.json as { hotWallets: any[]; problems: string[] };
    };
    /** Polls a settlement until `done` holds, mining a block now and then so confirmations come quickly. */
    const until = async (id: string, done: (s: any) => boolean, what: string) => {
      const eth = await t.app.services.chain.evm('ETH');
      for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 150))) {
        const s = (await t.admin('GET', `/admin/v1/settlements/${id}`)).json;
        if (done(s)) return s;
        await eth.client.request({ method: 'anvil_mine' as any, params: ['0x2'] as any });
      }
      assert.fail(`settlement ${id} never ${what}`);
    };
    const row = async (network: string, asset: string) =>
      (await hotWallets()).hotWallets.find((w) => w.network === network && w.asset === asset);

    test('admin only', async () => {
      const anon = await fetch(`${t.baseUrl}/admin/v1/chain/hot-wallets`);
      assert.equal(anon.status, 401);
      const wrong = await fetch(`${t.baseUrl}/admin/v1/chain/hot-wallets`, { headers: { authorization: 'Bearer x' } });
      assert.equal(wrong.status, 401);
    });

    test('hot wallet short: the settlement waits with a warning to the operator, then completes once topped up', async () => {
      const m = (await createMerchant(t, { name: `Hot ${kind}` })).merchantId;
      await t.db.tx((q) =>
        t.app.services.ledger.transfer(q, {
          id: `hot-fund-${kind}`,
          debit: platformAccount('sandbox_mint', 'ETH'),
          credit: { ownerType: 'merchant', ownerId: m, asset: 'ETH' },
          amount: '2',
          kind: 'test_funding',
        }),
      );
      const addr = await t.admin('POST', `/admin/v1/merchants/${m}/settlement/addresses`, {
        asset: 'ETH',
        network: 'ETH',
        address: randomAddress(),
        label: 'ops',
        coolingOff: false,
      });
      assert.equal(addr.status, 201);
      const chain = t.app.services.chain;
      const eth = await chain.evm('ETH');
      const hot = eth.hotAddress as Address;

      const funded = await row('ETH', 'ETH');
      assert.ok(funded, 'the started chain reports its hot wallets');
      assert.equal(funded.address, hot);
      assert.equal(funded.drift, '0');
      assert.equal(funded.onChain, funded.ledger, 'on chain beside the ledger inventory');
      assert.equal(funded.warning, null);
      assert.equal((await row('ETH', 'USDT')).onChain, '10000000');
      assert.equal(funded.customerLiabilities, '2', "customers' ETH on the ledger");

      const saved = await eth.client.getBalance({ address: hot });
      await eth.client.request({ method: 'anvil_setBalance' as any, params: [hot, '0x0'] as any });
      const w = await t.admin('POST', `/admin/v1/merchants/${m}/settlement/withdrawals`, {
        addressId: addr.json.id,
        amount: '0.5',
        requestKey: `short-${kind}`,
      });
      assert.equal(w.status, 200, JSON.stringify(w.json));
      assert.equal(w.json.status, 'WITHDRAWING');
      const waiting = await until(w.json.id, (x) => x.chain.waitingReason !== null, 'waited');
      assert.equal(waiting.status, 'WITHDRAWING');
      assert.deepEqual(
        [waiting.chain.status, waiting.chain.waitingReason],
        ['requested', 'INSUFFICIENT_HOT_WALLET_FUNDS'],
      );
      const short = await row('ETH', 'ETH');
      assert.equal(short.onChain, '0');
      assert.deepEqual(short.pendingWithdrawals, { count: 1, amount: '0.4988' });
      assert.equal(short.waitingForFunds, 1);
      assert.match(short.warning, /holds 0 ETH but 0\.4988 ETH of withdrawals are pending \(1 waiting for funds\)/);
      assert.equal(short.customerLiabilities, '2', 'the held amount is still owed until it is sent');

      await eth.client.request({ method: 'anvil_setBalance' as any, params: [hot, `0x${saved.toString(16)}`] as any });
      const done = await until(w.json.id, (x) => x.status === 'COMPLETED', 'completed');
      assert.deepEqual([done.status, done.chain.status, done.chain.waitingReason], ['COMPLETED', 'completed', null]);
      const after = await row('ETH', 'ETH');
      assert.deepEqual(after.pendingWithdrawals, { count: 0, amount: '0' });
      assert.equal(after.warning, null);
      assert.equal(after.drift, '0');
      assert.equal(after.customerLiabilities, '1.5');
      await assertAuditOk(t);
    });

    test('a settlement whose confirm died before the chain call (REQUESTED, no hold) is resumed by the worker', async () => {
      const m = (await createMerchant(t, { name: `Resume ${kind}` })).merchantId;
      await t.db.tx((q) =>
        t.app.services.ledger.transfer(q, {
          id: `resume-fund-${kind}`,
          debit: platformAccount('sandbox_mint', 'USDT'),
          credit: { ownerType: 'merchant', ownerId: m, asset: 'USDT' },
          amount: '40',
          kind: 'test_funding',
        }),
      );
      const addr = await t.admin('POST', `/admin/v1/merchants/${m}/settlement/addresses`, {
        asset: 'USDT',
        network: 'ETH',
        address: randomAddress(),
        label: 'resume',
        coolingOff: false,
      });
      const id = t.app.services.ids.next().toString();
      // What the confirm wrote before it died (its lease long lapsed): the record, nothing held, no chain withdrawal.
      await t.db.query(
        `INSERT INTO pay_settlements (id, merchant_id, request_key, address_id, asset, network, amount, fee, source,
          status, lease_until, created_at, updated_at) VALUES ($1, $2, 'resume-1', $3, 'USDT', 'ETH', '25', '1',
          'DASHBOARD', 'REQUESTED', $4, $5, $5)`,
        [id, m, addr.json.id, Date.now() - 1000, t.clock.now()],
      );
      const done = await until(id, (x) => x.status === 'COMPLETED', 'completed');
      assert.equal(done.chain.status, 'completed');
      assert.deepEqual(
        await t.app.services.ledger.balance(t.db, { ownerType: 'merchant', ownerId: m, asset: 'USDT' }),
        { asset: 'USDT', posted: '15', held: '0', available: '15' },
      );
      const wds = await t.db.query(`SELECT count(*)::int AS n FROM chain_withdrawals WHERE ref = $1`, [`settle:${id}`]);
      assert.equal(wds.rows[0].n, 1);
      await assertAuditOk(t);
    });
  });
}
