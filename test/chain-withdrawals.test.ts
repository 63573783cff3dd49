import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { erc20Abi, parseEther, parseUnits, type Address } from 'viem';
import { startAnvil } from '../src/chain/anvil.ts';
import { createPublicEvmClient } from '../src/chain/evm.ts';
import { randomAddress, startChainFixture, type ChainFixture } from './chain-fixture.ts';

describe('chain withdrawals on anvil', () => {
  let f: ChainFixture;
  before(async () => {
    f = await startChainFixture();
  });
  after(async () => {
    await f?.close();
  });

  const userBalance = async (user: string, asset: string) =>
    f.ledger.balance(f.db, { ownerType: 'user', ownerId: user, asset });
  const auditOk = async () => {
    const a = await f.ledger.audit();
    assert.ok(a.ok, a.problems.join('; '));
  };

  test('ETH withdrawal: hold, signed, broadcast, confirming for 12 blocks, completed; balance read from the chain', async () => {
    await f.fundUser('u-eth', 'ETH', '2');
    const to = randomAddress();
    const r = await f.chain.withdrawals.request({
      ref: 'eth-1',
      ownerType: 'user',
      ownerId: 'u-eth',
      asset: 'ETH',
      network: 'ETH',
      address: to.toLowerCase(),
      amount: '0.5',
    });
    assert.ok(r.ok);
    assert.equal(r.value.status, 'requested');
    assert.equal(r.value.address, to, 'stored EIP-55 checksummed');
    assert.deepEqual(await userBalance('u-eth', 'ETH'), { asset: 'ETH', posted: '2', held: '0.5', available: '1.5' });
    const again = await f.chain.withdrawals.request({
      ref: 'eth-1',
      ownerType: 'user',
      ownerId: 'u-eth',
      asset: 'ETH',
      network: 'ETH',
      address: to,
      amount: '0.5',
    });
    assert.equal(again.ok && again.value.id, r.value.id, 'same ref, same withdrawal');
    assert.equal((await userBalance('u-eth', 'ETH')).held, '0.5', 'held once');

    await f.chain.withdrawals.process(r.value.id);
    let w = (await f.chain.withdrawals.get(r.value.id))!;
    assert.equal(w.status, 'confirming');
    assert.match(w.txHash!, /^0x[0-9a-f]{64}$/);
    assert.equal(w.confirmations, 1);
    await f.mine('ETH', 10);
    await f.chain.withdrawals.process(w.id);
    w = (await f.chain.withdrawals.get(w.id))!;
    assert.equal(w.status, 'confirming', '11 of 12 confirmations');
    assert.equal(w.confirmations, 11);
    await f.mine('ETH', 1);
    await f.chain.withdrawals.process(w.id);
    w = (await f.chain.withdrawals.get(w.id))!;
    assert.equal(w.status, 'completed');
    const eth = await f.chain.evm('ETH');
    assert.equal(await eth.client.getBalance({ address: to }), parseEther('0.5'));
    assert.deepEqual(await userBalance('u-eth', 'ETH'), { asset: 'ETH', posted: '1.5', held: '0', available: '1.5' });
    await auditOk();
  });

  test('ERC-20 withdrawal: USDT on the BSC-like chain (6-decimal test token), 15 confirmations', async () => {
    await f.fundUser('u-usdt', 'USDT', '100');
    const to = randomAddress();
    const r = await f.chain.withdrawals.request({
      ref: 'usdt-1',
      ownerType: 'user',
      ownerId: 'u-usdt',
      asset: 'USDT',
      network: 'BSC',
      address: to,
      amount: '25.5',
    });
    assert.ok(r.ok);
    await f.chain.withdrawals.process(r.value.id);
    await f.mine('BSC', 14);
    await f.chain.withdrawals.runOnce();
    const w = (await f.chain.withdrawals.get(r.value.id))!;
    assert.equal(w.status, 'completed');
    const bsc = await f.chain.evm('BSC');
    const token = bsc.tokens.get('USDT')!;
    assert.notEqual(bsc.chainId, (await f.chain.evm('ETH')).chainId, 'two chains, two chain ids');
    assert.equal(
      await bsc.client.readContract({ address: token.address, abi: erc20Abi, functionName: 'balanceOf', args: [to] }),
      parseUnits('25.5', 6),
    );
    assert.equal((await userBalance('u-usdt', 'USDT')).posted, '74.5');
    const listing = (await f.chain.networkList()).find((n) => n.asset === 'USDT' && n.network === 'BSC')!;
    assert.equal(listing.contractAddress, token.address, 'the list shows the deployed sandbox contract');
    await auditOk();
  });

  test(
    'validation: wrong network address, memo on a memo-less network, limits and multiples, insufficient ' +
      'customer funds',
    async () => {
      const base = {
        ref: 'v',
        ownerType: 'user' as const,
        ownerId: 'u-v',
        asset: 'USDT',
        network: 'ETH',
        address: randomAddress() as string,
        amount: '10',
      };
      const cases: [Partial<typeof base> & { memo?: string }, string][] = [
        [{ address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t' }, 'WRONG_NETWORK'],
        [{ memo: '123' }, 'INVALID_MEMO'],
        [{ amount: '9.99' }, 'AMOUNT_OUT_OF_LIMIT'],
        [{ amount: '10.0000001' }, 'INVALID_AMOUNT'],
        [{ network: 'SOL' }, 'UNSUPPORTED_NETWORK'],
        [{}, 'INSUFFICIENT_FUNDS'],
      ];
      for (const [patch, code] of cases) {
        const r = await f.chain.withdrawals.request({ ...base, ...patch });
        assert.equal(r.ok, false);
        assert.equal(!r.ok && r.code, code, JSON.stringify(patch));
      }
      assert.equal((await f.db.query(`SELECT count(*)::int AS n FROM chain_withdrawals WHERE ref = 'v'`)).rows[0].n, 0);
    },
  );

  // Issue #16 changed this behaviour: a short hot wallet used to fail the withdrawal (INSUFFICIENT_HOT_WALLET_FUNDS,
  // then retry or cancel by hand); now the withdrawal waits in `requested` and proceeds once the wallet is topped up.
  test(
    'hot wallet drained: withdrawal waits in requested with the reason, hold kept, no nonce used; proceeds by ' +
      'itself to completed once the wallet is topped up',
    async () => {
      const eth = await f.chain.evm('ETH');
      const hot = eth.hotAddress as Address;
      const saved = await eth.client.getBalance({ address: hot });
      await f.rpc('ETH', 'anvil_setBalance', [hot, '0x0']);
      await f.fundUser('u-drain', 'ETH', '1');
      const to = randomAddress();
      const r = await f.chain.withdrawals.request({
        ref: 'drain-1',
        ownerType: 'user',
        ownerId: 'u-drain',
        asset: 'ETH',
        network: 'ETH',
        address: to,
        amount: '0.25',
      });
      assert.ok(r.ok);
      const nonceBefore = (await f.db.query(`SELECT next_nonce FROM chain_nonces WHERE network = 'ETH'`)).rows[0]
        ?.next_nonce;
      assert.equal(await f.chain.withdrawals.process(r.value.id), false, 'no progress while the wallet is short');
      await f.chain.withdrawals.runOnce();
      let w = (await f.chain.withdrawals.get(r.value.id))!;
      assert.equal(w.status, 'requested');
      assert.equal(w.waitingReason, 'INSUFFICIENT_HOT_WALLET_FUNDS');
      assert.equal(w.failureReason, null);
      assert.match(w.lastError ?? '', /hot wallet/);
      assert.equal(w.attempts, 0);
      assert.equal((await userBalance('u-drain', 'ETH')).held, '0.25', 'hold kept while waiting');
      const cancel = await f.chain.withdrawals.cancel(r.value.id);
      assert.equal(!cancel.ok && cancel.code, 'NOT_CANCELLABLE', 'a waiting withdrawal is not a failed one');
      const retry = await f.chain.withdrawals.retry(r.value.id);
      assert.equal(!retry.ok && retry.code, 'NOT_RETRYABLE');

      await f.rpc('ETH', 'anvil_setBalance', [hot, `0x${saved.toString(16)}`]);
      await f.chain.withdrawals.runOnce();
      w = (await f.chain.withdrawals.get(r.value.id))!;
      assert.equal(w.status, 'confirming');
      assert.equal(w.waitingReason, null);
      assert.equal(
        (await f.db.query(`SELECT next_nonce FROM chain_nonces WHERE network = 'ETH'`)).rows[0].next_nonce,
        (nonceBefore ?? 0n) + 1n,
        'waiting used no nonce',
      );
      await f.mine('ETH', 11);
      await f.chain.withdrawals.process(r.value.id);
      w = (await f.chain.withdrawals.get(r.value.id))!;
      assert.equal(w.status, 'completed');
      assert.equal(w.attempts, 1);
      assert.equal(await eth.client.getBalance({ address: to }), parseEther('0.25'));
      assert.deepEqual(await userBalance('u-drain', 'ETH'), {
        asset: 'ETH',
        posted: '0.75',
        held: '0',
        available: '0.75',
      });
      await auditOk();
    },
  );

  test('a network fee is held beside the amount and posted to the platform on completion', async () => {
    await f.fundUser('u-fee', 'ETH', '1');
    const r = await f.chain.withdrawals.request({
      ref: 'fee-1',
      ownerType: 'user',
      ownerId: 'u-fee',
      asset: 'ETH',
      network: 'ETH',
      address: randomAddress(),
      amount: '0.5',
      fee: '0.0012',
    });
    assert.ok(r.ok);
    assert.equal(r.value.fee, '0.0012');
    assert.equal((await userBalance('u-fee', 'ETH')).held, '0.5012');
    const tooMuch = await f.chain.withdrawals.request({
      ref: 'fee-2',
      ownerType: 'user',
      ownerId: 'u-fee',
      asset: 'ETH',
      network: 'ETH',
      address: randomAddress(),
      amount: '0.4988',
      fee: '0.0012',
    });
    assert.equal(!tooMuch.ok && tooMuch.code, 'INSUFFICIENT_FUNDS', 'amount + fee must fit the available balance');
    await f.chain.withdrawals.process(r.value.id);
    await f.mine('ETH', 12);
    await f.chain.withdrawals.process(r.value.id);
    assert.equal((await f.chain.withdrawals.get(r.value.id))!.status, 'completed');
    assert.deepEqual(await userBalance('u-fee', 'ETH'), {
      asset: 'ETH',
      posted: '0.4988',
      held: '0',
      available: '0.4988',
    });
    const fees = await f.ledger.balance(f.db, { ownerType: 'platform', ownerId: 'revenue_network_fee', asset: 'ETH' });
    assert.equal(fees.posted, '0.0012');
    await auditOk();
  });

  test('20 concurrent withdrawals: 20 distinct consecutive nonces, all mined and completed', async () => {
    await f.fundUser('u-many', 'USDC', '1000');
    const eth = await f.chain.evm('ETH');
    const hot = eth.hotAddress as Address;
    const startNonce = await eth.client.getTransactionCount({ address: hot });
    const targets = Array.from({ length: 20 }, () => randomAddress());
    const requested = await Promise.all(
      targets.map((to, i) =>
        f.chain.withdrawals.request({
          ref: `many-${i}`,
          ownerType: 'user',
          ownerId: 'u-many',
          asset: 'USDC',
          network: 'ETH',
          address: to,
          amount: '10',
        }),
      ),
    );
    const ids = requested.map((r) => (assert.ok(r.ok), r.value.id));
    await Promise.all(ids.map((id) => f.chain.withdrawals.process(id)));
    const nonces = (
      await f.db.query<{ nonce: bigint }>(`SELECT nonce FROM chain_txs WHERE withdrawal_id = ANY($1) ORDER BY nonce`, [
        ids,
      ])
    ).rows.map((r) => Number(r.nonce));
    assert.deepEqual(
      nonces,
      Array.from({ length: 20 }, (_, i) => startNonce + i),
    );
    await f.mine('ETH', 12);
    await f.chain.withdrawals.runOnce();
    const statuses = (
      await f.db.query(`SELECT status, count(*)::int AS n FROM chain_withdrawals WHERE id = ANY($1) GROUP BY status`, [
        ids,
      ])
    ).rows;
    assert.deepEqual(statuses, [{ status: 'completed', n: 20 }]);
    assert.equal(await eth.client.getTransactionCount({ address: hot }), startNonce + 20);
    const usdc = eth.tokens.get('USDC')!;
    for (const to of targets)
      assert.equal(
        await eth.client.readContract({ address: usdc.address, abi: erc20Abi, functionName: 'balanceOf', args: [to] }),
        parseUnits('10', 6),
      );
    assert.equal((await userBalance('u-many', 'USDC')).posted, '800');
    await auditOk();
  });

  test('simulated network (XRP): deterministic hash, labelled simulated, confirmations driven by the clock', async () => {
    await f.fundUser('u-xrp', 'XRP', '100');
    const r = await f.chain.withdrawals.request({
      ref: 'xrp-1',
      ownerType: 'user',
      ownerId: 'u-xrp',
      asset: 'XRP',
      network: 'XRP',
      address: 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh',
      memo: '12345',
      amount: '30',
    });
    assert.ok(r.ok);
    assert.equal(r.value.simulated, true);
    await f.chain.withdrawals.process(r.value.id);
    let w = (await f.chain.withdrawals.get(r.value.id))!;
    assert.equal(w.status, 'broadcast', 'no block yet at the same instant');
    assert.equal(w.txHash, createHash('sha256').update(`rampart-simulated:XRP:${w.id}:1`).digest('hex').toUpperCase());
    f.clock.advance(4_000);
    await f.chain.withdrawals.process(w.id);
    w = (await f.chain.withdrawals.get(w.id))!;
    assert.equal(w.status, 'completed');
    assert.equal((await userBalance('u-xrp', 'XRP')).posted, '70');
    assert.equal((await f.chain.networkList()).find((n) => n.network === 'XRP')!.simulated, true);
    await auditOk();
  });
});

test('embedded anvil keeps its state in DATA_DIR across a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-anvil-'));
  const statePath = join(dir, 'chain', 'eth-state.json');
  const who = randomAddress();
  let a = await startAnvil({ chainId: 31337, statePath });
  try {
    await createPublicEvmClient(a.rpcUrl, 31337).request({
      method: 'anvil_setBalance' as any,
      params: [who, '0x1234'] as any,
    });
    await createPublicEvmClient(a.rpcUrl, 31337).request({ method: 'evm_mine' as any, params: [] as any });
    await a.stop();
    a = await startAnvil({ chainId: 31337, statePath });
    assert.equal(await createPublicEvmClient(a.rpcUrl, 31337).getBalance({ address: who }), 0x1234n);
  } finally {
    await a.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
