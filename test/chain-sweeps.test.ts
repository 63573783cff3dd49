import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createWalletClient, erc20Abi, formatUnits, http, parseEther, parseUnits, type Address } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { ANVIL_DEV_MNEMONIC } from '../src/chain/anvil.ts';
import TestToken from '../src/chain/contracts/TestToken.json' with { type: 'json' };
import { startChainFixture, type ChainFixture } from './chain-fixture.ts';

/**
 * Sweeps on anvil: credited deposits move from their deposit address to the hot wallet, once, with exact books. And
 * top-ups: the operator's own coins sent to the hot wallet are booked once, after confirmations.
 */
describe('chain sweeps and hot-wallet top-ups on anvil', () => {
  let f: ChainFixture;
  before(async () => {
    f = await startChainFixture({ sweep: true });
  });
  after(async () => {
    await f?.close();
  });

  const eth = () => f.chain.evm('ETH');
  const tokenBalance = async (holder: string) => {
    const a = await eth();
    const usdt = a.tokens.get('USDT')!;
    return formatUnits(
      await a.client.readContract({
        address: usdt.address,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [holder as Address],
      }),
      usdt.decimals,
    );
  };
  /** Worker ticks with a block mined between them, until `done` or the tick budget runs out. */
  async function runUntil(done: () => Promise<boolean>, ticks = 80) {
    for (let i = 0; i < ticks; i++) {
      if (await done()) return;
      await f.chain.runOnce();
      await f.mine('ETH', 1);
    }
    assert.fail('the worker did not get there');
  }
  const sweepsOf = async (address: string) =>
    (await f.chain.sweeps.list('ETH')).filter((s) => s.address.toLowerCase() === address.toLowerCase());
  /** USDT minted straight to `to` by the token's deployer (anvil's first dev account). */
  const mintUsdt = async (to: string, amount: string) => {
    const a = await eth();
    const minter = createWalletClient({ account: mnemonicToAccount(ANVIL_DEV_MNEMONIC), transport: http(a.rpcUrl) });
    return minter.writeContract({
      address: a.tokens.get('USDT')!.address,
      abi: TestToken.abi,
      functionName: 'mint',
      args: [to, parseUnits(amount, 6)],
      chain: null,
    });
  };
  /** Native coins sent to `to` from a stranger's account (anvil's second dev account). */
  const sendEth = async (to: string, amount: string) => {
    const stranger = await f.stranger('ETH');
    return stranger.sendTransaction({
      to: to as Address,
      value: parseEther(amount),
      account: stranger.account!,
      chain: stranger.chain,
    });
  };

  test('an ERC-20 deposit is swept to the hot wallet after a gas top-up; the ledger and the chain agree', async () => {
    const { address } = await f.chain.depositAddress('user', 'sw-1');
    const a = await eth();
    const hot = a.hotAddress!;
    const hotBefore = await tokenBalance(hot);
    await mintUsdt(address, '50');
    await runUntil(async () => (await sweepsOf(address)).some((s) => s.status === 'completed'));

    const [sweep] = await sweepsOf(address);
    assert.equal(sweep!.amount, '50');
    assert.equal(await tokenBalance(address), '0', 'the deposit address is empty');
    assert.equal(
      (Number(await tokenBalance(hot)) - Number(hotBefore)).toFixed(6),
      '50.000000',
      'the hot wallet received the deposit',
    );
    // The gas top-up went through the withdrawal machine, once, from the network's fee account.
    const topUp = await f.chain.withdrawals.getByRef(`sweep-gas:${sweep!.id}:1`);
    assert.equal(topUp?.status, 'completed');
    assert.equal(topUp?.ownerType, 'platform');
    assert.equal(await f.chain.withdrawals.getByRef(`sweep-gas:${sweep!.id}:2`), null, 'one top-up was enough');
    // One sweep transaction from the deposit address: its nonce went from 0 to 1.
    assert.equal(await a.client.getTransactionCount({ address: address as Address }), 1);
    // The gas sent to the address is the platform's own: not a deposit, nothing credited to the address's owner.
    assert.equal((await f.ledger.balance(f.db, { ownerType: 'user', ownerId: 'sw-1', asset: 'ETH' })).posted, '0');
    assert.deepEqual(
      (await f.chain.deposits.list('user', 'sw-1')).map((d) => d.asset),
      ['USDT'],
    );
    const hotWallets = await f.chain.reconcileHotWallets();
    assert.deepEqual(hotWallets.problems, []);
    const audit = await f.ledger.audit();
    assert.deepEqual(audit.problems, []);
    // More worker ticks change nothing: the deposit is claimed by the completed sweep.
    for (let i = 0; i < 3; i++) await f.chain.runOnce();
    assert.equal((await sweepsOf(address)).length, 1);
  });

  test('a native deposit is swept minus its gas; two workers racing make one transaction', async () => {
    const { address } = await f.chain.depositAddress('user', 'sw-2');
    await sendEth(address, '0.5');
    const a = await eth();
    await runUntil(async () => {
      // Two worker ticks at once, every time: the conditional transitions let one of them act.
      await Promise.all([f.chain.runOnce(), f.chain.runOnce()]);
      return (await sweepsOf(address)).some((s) => s.status === 'completed');
    });
    assert.equal((await sweepsOf(address)).length, 1);
    assert.equal(await a.client.getTransactionCount({ address: address as Address }), 1, 'one transaction sent');
    const left = await a.client.getBalance({ address: address as Address });
    assert.ok(left < parseEther('0.001'), `only gas change stays at the address (${formatUnits(left, 18)} ETH)`);
    assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);
    assert.deepEqual((await f.ledger.audit()).problems, []);
  });

  test("a token sweep never burns the customers' native coins at the address; the native sweep follows it", async () => {
    const { address } = await f.chain.depositAddress('user', 'sw-4');
    const a = await eth();
    // 0.003 ETH is below the 0.005 ETH threshold (not swept yet) but would pay a token transfer's gas many times over.
    await sendEth(address, '0.003');
    await mintUsdt(address, '20');
    await runUntil(async () => (await sweepsOf(address)).some((s) => s.status === 'completed'));
    const [tokenSweep] = await sweepsOf(address);
    assert.equal(tokenSweep!.asset, 'USDT');
    assert.ok(await f.chain.withdrawals.getByRef(`sweep-gas:${tokenSweep!.id}:1`), 'its gas came from the hot wallet');
    assert.ok(
      (await a.client.getBalance({ address: address as Address })) >= parseEther('0.003'),
      "the customer's 0.003 ETH is still at the address",
    );
    // Another 0.004 ETH: 0.007 ETH credited, swept in full (less its own gas) once the token sweep is done.
    await sendEth(address, '0.004');
    await runUntil(async () => (await sweepsOf(address)).filter((s) => s.status === 'completed').length === 2);
    const native = (await sweepsOf(address)).find((s) => s.asset === 'ETH')!;
    assert.equal(native.amount, '0.007');
    assert.equal((await f.ledger.balance(f.db, { ownerType: 'user', ownerId: 'sw-4', asset: 'ETH' })).posted, '0.007');
    assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);
    assert.deepEqual((await f.ledger.audit()).problems, []);
  });

  test('a sweep whose process died after broadcasting (state still signed) is followed, never sent again', async () => {
    const { address } = await f.chain.depositAddress('user', 'sw-5');
    await sendEth(address, '0.2');
    await runUntil(async () => (await sweepsOf(address)).some((s) => s.status === 'broadcast'));
    const [sweep] = await sweepsOf(address);
    // What a kill -9 between the broadcast and its recording leaves: the row at `signed`, the transaction on the chain.
    await f.db.query(`UPDATE chain_sweeps SET status = 'signed', broadcast_at = NULL WHERE id = $1`, [sweep!.id]);
    await runUntil(async () => (await sweepsOf(address))[0]!.status === 'completed');
    const a = await eth();
    assert.equal(await a.client.getTransactionCount({ address: address as Address }), 1, 'one transaction, not two');
    assert.equal((await sweepsOf(address))[0]!.txHash, sweep!.txHash);
    assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);
    assert.deepEqual((await f.ledger.audit()).problems, []);
  });

  test('deposits below the threshold wait; pending deposits are never swept', async () => {
    const { address } = await f.chain.depositAddress('user', 'sw-3');
    await mintUsdt(address, '4');
    for (let i = 0; i < 15; i++) {
      await f.chain.runOnce();
      await f.mine('ETH', 1);
    }
    assert.equal((await sweepsOf(address)).length, 0, '4 USDT is below the 10 USDT threshold');
    // A second deposit brings it over: both are swept together, once credited.
    await mintUsdt(address, '7');
    await f.chain.runOnce();
    assert.equal((await sweepsOf(address)).length, 0, 'the second deposit is not credited yet');
    let checkedInFlight = false;
    await runUntil(async () => {
      const [s] = await sweepsOf(address);
      if (s?.status === 'broadcast' && s.confirmations > 0) {
        // Mined, not yet booked: the reconciliation counts it as arrived, so the hot wallet shows no drift.
        assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);
        checkedInFlight = true;
      }
      return s?.status === 'completed';
    });
    assert.ok(checkedInFlight, 'the reconciliation ran while the sweep was in a block but not complete');
    assert.equal((await sweepsOf(address))[0]!.amount, '11');
    assert.equal(await tokenBalance(address), '0');
    assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);
  });

  test('a top-up is booked once after its confirmations; other transactions are refused with a reason', async () => {
    const a = await eth();
    const hot = a.hotAddress as Address;
    const stranger = await f.stranger('ETH');
    const send = (to: Address, eth: string) =>
      stranger.sendTransaction({ to, value: parseEther(eth), account: stranger.account!, chain: stranger.chain });
    const gift = await send(hot, '2');
    const unbooked = (await f.chain.reconcileHotWallets()).problems;
    assert.equal(unbooked.length, 1);
    assert.match(unbooked[0]!, /^hot wallet ETH ETH .* drift 2$/, 'an unbooked top-up shows as drift');
    const early = await f.chain.recordTopUp('ETH', gift);
    assert.equal(early.ok ? 'ok' : early.code, 'NOT_CONFIRMED');
    await f.mine('ETH', 12);
    const booked = await f.chain.recordTopUp('ETH', gift);
    assert.ok(booked.ok);
    assert.deepEqual(booked.value.credited, [{ asset: 'ETH', amount: '2', alreadyBooked: false }]);
    assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);
    const again = await f.chain.recordTopUp('ETH', gift.toUpperCase().replace('0X', '0x'));
    assert.ok(again.ok);
    assert.deepEqual(again.value.credited, [{ asset: 'ETH', amount: '2', alreadyBooked: true }], 'booked once');
    assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);

    // An ERC-20 top-up, minted straight to the hot wallet.
    const mint = await mintUsdt(hot, '250.5');
    await f.mine('ETH', 12);
    const tokens = await f.chain.recordTopUp('ETH', mint);
    assert.ok(tokens.ok);
    assert.deepEqual(tokens.value.credited, [{ asset: 'USDT', amount: '250.5', alreadyBooked: false }]);
    assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);

    const elsewhere = await send((await f.chain.depositAddress('user', 'sw-9')).address as Address, '0.1');
    await f.mine('ETH', 12);
    const other = await f.chain.recordTopUp('ETH', elsewhere);
    assert.equal(other.ok ? 'ok' : other.code, 'NOTHING_TO_HOT_WALLET');
    const missing = await f.chain.recordTopUp('ETH', `0x${'ab'.repeat(32)}`);
    assert.equal(missing.ok ? 'ok' : missing.code, 'TX_NOT_FOUND');
    const noChain = await f.chain.recordTopUp('BTC', gift);
    assert.equal(noChain.ok ? 'ok' : noChain.code, 'NETWORK_UNAVAILABLE');
    assert.deepEqual((await f.ledger.audit()).problems, []);
  });
});
