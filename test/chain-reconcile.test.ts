import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeFunctionData, erc20Abi, formatEther, parseEther, parseUnits, type Address, type Hex } from 'viem';
import type { HotWalletCheck } from '../src/chain/service.ts';
import { createChainService } from '../src/chain/service.ts';
import { createManualClock } from '../src/platform/clock.ts';
import { createSecretBox, randomHex } from '../src/platform/crypto.ts';
import { createIdGenerator } from '../src/platform/ids.ts';
import { createLedger, platformAccount } from '../src/platform/ledger/service.ts';
import { Decimal } from '../src/platform/money.ts';
import { randomAddress, startChainFixture, type ChainFixture } from './chain-fixture.ts';
import { DB_KINDS, openTestDb } from './helpers.ts';

/**
 * The hot wallet on the ledger: funding, withdrawals (amount and gas) and reverted transactions (gas) are booked so
 * that each network's on-chain balances equal the ledger exactly, and money moved behind the ledger's back shows as
 * drift.
 */
for (const kind of DB_KINDS) {
  describe(`hot wallet reconciliation on anvil (${kind})`, () => {
    let f: ChainFixture;
    before(async () => {
      const { db, drop } = await openTestDb(kind);
      f = await startChainFixture({ db, dropDb: drop });
    });
    after(async () => {
      await f?.close();
    });

    const account = (network: string, asset: string) =>
      f.ledger.balance(f.db, platformAccount(`hot_wallet.${network}`, asset));
    const byKey = (checks: HotWalletCheck[]) => Object.fromEntries(checks.map((c) => [`${c.network}/${c.asset}`, c]));
    /** One check by 'NETWORK/ASSET', failing the test when the reconciliation has none. */
    const check = (checks: Record<string, HotWalletCheck>, key: string): HotWalletCheck => {
      const c = checks[key];
      assert.ok(c, `no hot wallet check for ${key}`);
      return c;
    };
    const withdraw = async (
      ref: string,
      user: string,
      asset: string,
      network: string,
      amount: string,
      to: Address = randomAddress(),
    ) => {
      await f.fundUser(user, asset, amount);
      const r = await f.chain.withdrawals.request({
        ref,
        ownerType: 'user',
        ownerId: user,
        asset,
        network,
        address: to,
        amount,
      });
      assert.ok(r.ok, JSON.stringify(r));
      return r.value.id;
    };
    /**
     * Gas the hot wallet paid on a network, summed from the receipts of every transaction the platform signed there.
     */
    const gasPaid = async (network: string) => {
      const a = await f.chain.evm(network);
      const hashes = (
        await f.db.query<{ hash: string }>(`SELECT hash FROM chain_txs WHERE network = $1`, [network])
      ).rows.map((r) => r.hash as Hex);
      let wei = 0n;
      for (const hash of hashes) {
        const receipt = await a.client.getTransactionReceipt({ hash });
        wei += receipt.gasUsed * receipt.effectiveGasPrice;
      }
      return wei;
    };

    test(
      'a deployment whose chain was never used (no hot-wallet money on its ledger) reports no hot wallets and ' +
        'starts nothing',
      async () => {
        const dataDir = mkdtempSync(join(tmpdir(), 'rampart-idle-'));
        const fresh = await openTestDb(kind);
        const idle = createChainService({
          db: fresh.db,
          ledger: createLedger({ db: fresh.db, clock: createManualClock(0) }),
          clock: createManualClock(0),
          ids: createIdGenerator(),
          box: createSecretBox(randomHex(32)),
          config: { mode: 'sandbox', dataDir, anvil: { persist: false } },
        });
        try {
          assert.deepEqual(await idle.reconcileHotWallets(), { hotWallets: [], problems: [] });
          assert.equal(idle.isStarted(), false);
        } finally {
          await idle.stop();
          await fresh.drop();
          rmSync(dataDir, { recursive: true, force: true });
        }
      },
    );

    test(
      'after ETH and ERC-20 withdrawals (one reverted, one still confirming) every hot wallet matches the ledger ' +
        'to the wei',
      async (t) => {
        const eth = await f.chain.evm('ETH');
        const fresh = await f.chain.reconcileHotWallets();
        assert.deepEqual(fresh.problems, []);
        assert.equal(check(byKey(fresh.hotWallets), 'ETH/ETH').ledger, '1000', 'sandbox funding is on the ledger');
        assert.equal(check(byKey(fresh.hotWallets), 'BSC/USDT').ledger, '10000000');

        const ids = [
          await withdraw('r-eth', 'u-r1', 'ETH', 'ETH', '0.5'),
          await withdraw('r-usdc', 'u-r2', 'USDC', 'ETH', '12.345678'),
          await withdraw('r-usdt', 'u-r3', 'USDT', 'BSC', '25.5'),
          await withdraw('r-busd', 'u-r4', 'BUSD', 'BSC', '10.000001'),
        ];
        for (const id of ids) await f.chain.withdrawals.process(id);
        await f.mine('ETH', 12);
        await f.mine('BSC', 15);
        await f.chain.withdrawals.runOnce();
        for (const id of ids) assert.equal((await f.chain.withdrawals.get(id))!.status, 'completed');

        // A transaction that reverts in its block: the destination turns into a contract that refuses ETH after
        // signing.
        const trap = randomAddress();
        const reverting = await withdraw('r-revert', 'u-r5', 'ETH', 'ETH', '0.25', trap);
        await f.rpc('ETH', 'evm_setAutomine', [false]);
        try {
          await f.chain.withdrawals.process(reverting);
          assert.equal((await f.chain.withdrawals.get(reverting))!.status, 'broadcast');
          await f.rpc('ETH', 'anvil_setCode', [trap, '0x60006000fd']); // PUSH1 0 PUSH1 0 REVERT
          await f.mine('ETH', 1);
        } finally {
          await f.rpc('ETH', 'evm_setAutomine', [true]);
        }
        await f.chain.withdrawals.process(reverting);
        const failed = (await f.chain.withdrawals.get(reverting))!;
        assert.equal(failed.status, 'failed');
        assert.equal(failed.failureReason, 'REVERTED');

        // Mined but not yet confirmed: the chain has paid it, the ledger has not yet; reconciliation counts it as in
        // flight.
        const inFlight = await withdraw('r-flight', 'u-r6', 'USDT', 'ETH', '40');
        await f.chain.withdrawals.process(inFlight);
        assert.equal((await f.chain.withdrawals.get(inFlight))!.status, 'confirming');

        const r = await f.chain.reconcileHotWallets();
        assert.deepEqual(r.problems, []);
        t.diagnostic(
          `${r.hotWallets.length} hot wallets ` +
            `checked: ${r.hotWallets.map((c) => `${c.network}/${c.asset} ${c.onChain} = ${c.ledger}`).join(', ')}`,
        );
        const checks = byKey(r.hotWallets);
        assert.deepEqual(Object.keys(checks).sort(), [
          'BSC/BNB',
          'BSC/BUSD',
          'BSC/USDC',
          'BSC/USDT',
          'ETH/ETH',
          'ETH/USDC',
          'ETH/USDT',
        ]);
        for (const c of r.hotWallets) {
          assert.equal(c.drift, '0', `${c.network}/${c.asset}`);
          assert.equal(c.onChain, c.ledger);
          assert.equal(c.address, eth.hotAddress);
        }
        // Exact figures, independently from the receipts: 1000 ETH − 0.5 sent − every transaction's gas (the revert's
        // included).
        const ethGas = await gasPaid('ETH');
        assert.ok(ethGas > 0n);
        assert.equal(check(checks, 'ETH/ETH').onChain, formatEther(parseEther('999.5') - ethGas));
        assert.equal(check(checks, 'BSC/BNB').onChain, formatEther(parseEther('1000') - (await gasPaid('BSC'))));
        assert.equal(check(checks, 'ETH/USDC').onChain, '9999987.654322');
        assert.equal(check(checks, 'ETH/USDT').onChain, '9999960', 'the confirming withdrawal has left the chain');
        assert.equal(check(checks, 'BSC/USDT').onChain, '9999974.5');
        assert.equal(check(checks, 'BSC/BUSD').onChain, '9999989.999999');
        assert.equal(check(checks, 'BSC/USDC').onChain, '10000000');
        assert.equal((await account('ETH', 'USDT')).posted, '-10000000', 'the confirming withdrawal is not posted yet');
        const fees = await f.ledger.balance(f.db, platformAccount('network_fees.ETH', 'ETH'));
        assert.equal(
          new Decimal(fees.posted).neg().toFixed(),
          formatEther(ethGas - (await inFlightGas(inFlight))),
          'gas of completed and reverted transactions is booked',
        );

        await f.mine('ETH', 11);
        await f.chain.withdrawals.process(inFlight);
        assert.equal((await f.chain.withdrawals.get(inFlight))!.status, 'completed');
        assert.equal((await account('ETH', 'USDT')).posted, '-9999960');
        assert.equal(
          new Decimal((await f.ledger.balance(f.db, platformAccount('network_fees.ETH', 'ETH'))).posted)
            .neg()
            .toFixed(),
          formatEther(ethGas),
        );
        assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);
        const audit = await f.ledger.audit();
        assert.ok(audit.ok, audit.problems.join('; '));
      },
    );

    async function inFlightGas(id: string) {
      const w = (await f.chain.withdrawals.get(id))!;
      const receipt = await (await f.chain.evm(w.network)).client.getTransactionReceipt({ hash: w.txHash as Hex });
      return receipt.gasUsed * receipt.effectiveGasPrice;
    }

    test('funds moved out of the hot wallet behind the ledger are reported as drift with exact figures', async (t) => {
      const eth = await f.chain.evm('ETH');
      const bsc = await f.chain.evm('BSC');
      const hot = eth.hotAddress as Address;
      assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);

      // Native: the balance is lowered directly on the node.
      const ethBefore = await eth.client.getBalance({ address: hot });
      await f.rpc('ETH', 'anvil_setBalance', [
        hot,
        `0x${(ethBefore - parseEther('0.123456789012345678')).toString(16)}`,
      ]);
      // ERC-20: the hot wallet's key "signs" a transfer the platform never asked for (anvil impersonation); it pays gas
      // too.
      const usdt = bsc.tokens.get('USDT')!;
      await f.rpc('BSC', 'anvil_impersonateAccount', [hot]);
      const hash = (await f.rpc('BSC', 'eth_sendTransaction', [
        {
          from: hot,
          to: usdt.address,
          data: encodeFunctionData({
            abi: erc20Abi,
            functionName: 'transfer',
            args: [randomAddress(), parseUnits('7.654321', 6)],
          }),
        },
      ])) as Hex;
      await f.rpc('BSC', 'anvil_stopImpersonatingAccount', [hot]);
      const receipt = await bsc.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      assert.equal(receipt.status, 'success');
      const gas = receipt.gasUsed * receipt.effectiveGasPrice;

      const r = await f.chain.reconcileHotWallets();
      t.diagnostic(r.problems.join(' | '));
      const checks = byKey(r.hotWallets);
      assert.equal(r.hotWallets.length, 7);
      assert.equal(check(checks, 'ETH/ETH').drift, '-0.123456789012345678');
      assert.equal(
        new Decimal(check(checks, 'ETH/ETH').ledger).minus(check(checks, 'ETH/ETH').onChain).toFixed(),
        '0.123456789012345678',
      );
      assert.equal(check(checks, 'BSC/USDT').drift, '-7.654321');
      assert.equal(check(checks, 'BSC/USDT').onChain, '9999966.845679');
      assert.equal(check(checks, 'BSC/USDT').ledger, '9999974.5');
      assert.equal(check(checks, 'BSC/BNB').drift, `-${formatEther(gas)}`);
      for (const k of ['ETH/USDC', 'ETH/USDT', 'BSC/USDC', 'BSC/BUSD']) assert.equal(check(checks, k).drift, '0', k);
      assert.equal(r.problems.length, 3, r.problems.join('\n'));
      const usdtProblem = r.problems.find((p) => p.includes('BSC USDT'))!;
      for (const part of ['BSC', 'USDT', hot, 'on chain 9999966.845679', 'ledger 9999974.5', 'drift -7.654321'])
        assert.ok(usdtProblem.includes(part), `${part} in ${usdtProblem}`);
      assert.ok(
        r.problems.some((p) => p.includes('ETH ETH') && p.includes('drift -0.123456789012345678')),
        r.problems.join('\n'),
      );
      assert.ok(
        (await f.ledger.audit()).ok,
        'the ledger itself is still consistent: the drift is between it and the chain',
      );
    });
  });
}
