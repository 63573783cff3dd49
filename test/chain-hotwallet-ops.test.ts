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
  describe(`hot wallet operations (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ kind });
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
    const row = async (network: string, asset: string) =>
      (await hotWallets()).hotWallets.find((w) => w.network === network && w.asset === asset);

    test('admin only; a chain never used reports no wallets and starts nothing', async () => {
      const anon = await fetch(`${t.baseUrl}/admin/v1/chain/hot-wallets`);
      assert.equal(anon.status, 401);
      assert.deepEqual(await hotWallets(), { hotWallets: [], problems: [] });
      assert.equal(t.app.services.chain.isStarted(), false);
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
      for (let i = 0; i < 2; i++) await chain.withdrawals.runOnce();
      const waiting = (await t.admin('GET', `/admin/v1/settlements/${w.json.id}`)).json;
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
      await chain.withdrawals.runOnce();
      await eth.client.request({ method: 'anvil_mine' as any, params: ['0xc'] as any });
      await chain.withdrawals.runOnce();
      await t.app.services.settlement.runOnce();
      const done = (await t.admin('GET', `/admin/v1/settlements/${w.json.id}`)).json;
      assert.deepEqual([done.status, done.chain.status, done.chain.waitingReason], ['COMPLETED', 'completed', null]);
      const after = await row('ETH', 'ETH');
      assert.deepEqual(after.pendingWithdrawals, { count: 0, amount: '0' });
      assert.equal(after.warning, null);
      assert.equal(after.drift, '0');
      assert.equal(after.customerLiabilities, '1.5');
      await assertAuditOk(t);
    });
  });
}
