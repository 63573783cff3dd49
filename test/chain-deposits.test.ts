import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseEther, parseUnits, type Address } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { ANVIL_DEV_MNEMONIC } from '../src/chain/anvil.ts';
import TestToken from '../src/chain/contracts/TestToken.json' with { type: 'json' };
import { startChainFixture, type ChainFixture } from './chain-fixture.ts';

describe('chain deposits on anvil', () => {
  let f: ChainFixture;
  before(async () => {
    f = await startChainFixture();
  });
  after(async () => {
    await f?.close();
  });

  const bal = async (user: string, asset: string) =>
    (await f.ledger.balance(f.db, { ownerType: 'user', ownerId: user, asset })).posted;

  test('per-user HD deposit addresses: stable per user, distinct between users, seed sealed at rest', async () => {
    const a1 = await f.chain.depositAddress('user', 'd-1');
    const a1again = await f.chain.depositAddress('user', 'd-1');
    const a2 = await f.chain.depositAddress('user', 'd-2');
    assert.equal(a1.address, a1again.address);
    assert.notEqual(a1.address, a2.address);
    assert.equal(a2.derivationIndex, a1.derivationIndex + 1);
    const keys = (
      await f.db.query<{ name: string; sealed: string }>(`SELECT name, sealed FROM chain_keys ORDER BY name`)
    ).rows;
    assert.deepEqual(
      keys.map((k) => k.name),
      ['deposit_seed', 'hot_wallet'],
    );
    for (const k of keys) assert.match(k.sealed, /^v1\./, 'stored as SecretBox ciphertext');
  });

  test('ETH and ERC-20 deposits credited once after the required confirmations', async () => {
    const { address } = await f.chain.depositAddress('user', 'd-1');
    const eth = await f.chain.evm('ETH');
    const stranger = await f.stranger('ETH');
    await stranger.sendTransaction({
      to: address as Address,
      value: parseEther('1.25'),
      account: stranger.account!,
      chain: stranger.chain,
    });
    const owner = mnemonicToAccount(ANVIL_DEV_MNEMONIC);
    const usdt = eth.tokens.get('USDT')!;
    const { createWalletClient, http } = await import('viem');
    const deployer = createWalletClient({ account: owner, chain: stranger.chain, transport: http(eth.rpcUrl) });
    await deployer.writeContract({
      address: usdt.address,
      abi: TestToken.abi,
      functionName: 'mint',
      args: [address, parseUnits('50', 6)],
      chain: stranger.chain,
      account: owner,
    });

    assert.equal(await f.chain.deposits.scan(eth), 0);
    let seen = await f.chain.deposits.list('user', 'd-1');
    assert.deepEqual(seen.map((d) => [d.asset, d.amount, d.status]).sort(), [
      ['ETH', '1.25', 'pending'],
      ['USDT', '50', 'pending'],
    ]);
    assert.equal(await bal('d-1', 'ETH'), '0', 'nothing credited before 12 confirmations');
    await f.mine('ETH', 10);
    assert.equal(
      await f.chain.deposits.scan(eth),
      1,
      'the ETH transfer (one block older) has 12 confirmations, USDT 11',
    );
    await f.mine('ETH', 1);
    assert.equal(await f.chain.deposits.scan(eth), 1);
    assert.equal(await bal('d-1', 'ETH'), '1.25');
    assert.equal(await bal('d-1', 'USDT'), '50');

    // Re-scanning from the start finds the same transfers again and credits nothing twice.
    await f.db.query(`UPDATE chain_cursors SET block = 0 WHERE network = 'ETH'`);
    assert.equal(await f.chain.deposits.scan(eth), 0);
    await f.mine('ETH', 3);
    assert.equal(await f.chain.deposits.scan(eth), 0);
    assert.equal(await bal('d-1', 'ETH'), '1.25');
    seen = await f.chain.deposits.list('user', 'd-1');
    assert.equal(seen.length, 2);
    assert.ok(seen.every((d) => d.status === 'credited'));
    const a = await f.ledger.audit();
    assert.ok(a.ok, a.problems.join('; '));
  });

  test('a deposit reorganised away is never credited', async () => {
    const { address } = await f.chain.depositAddress('user', 'd-2');
    const eth = await f.chain.evm('ETH');
    const snapshot = await f.rpc('ETH', 'evm_snapshot');
    const stranger = await f.stranger('ETH');
    await stranger.sendTransaction({
      to: address as Address,
      value: parseEther('2'),
      account: stranger.account!,
      chain: stranger.chain,
    });
    await f.mine('ETH', 3);
    await f.chain.deposits.scan(eth);
    assert.deepEqual(
      (await f.chain.deposits.list('user', 'd-2')).map((d) => d.status),
      ['pending'],
      'seen while unconfirmed',
    );

    assert.equal(await f.rpc('ETH', 'evm_revert', [snapshot]), true);
    await f.mine('ETH', 20); // a longer chain without the transfer
    assert.equal(await f.chain.deposits.scan(eth), 0);
    await f.mine('ETH', 5);
    assert.equal(await f.chain.deposits.scan(eth), 0);
    assert.deepEqual(
      (await f.chain.deposits.list('user', 'd-2')).map((d) => d.status),
      ['orphaned'],
    );
    assert.equal(await bal('d-2', 'ETH'), '0');
    const a = await f.ledger.audit();
    assert.ok(a.ok, a.problems.join('; '));
  });
});
