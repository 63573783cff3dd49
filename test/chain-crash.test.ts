import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseEther, type Address } from 'viem';
import { startAnvil, type AnvilHandle } from '../src/chain/anvil.ts';
import { networkInfo } from '../src/chain/networks.ts';
import { randomHex } from '../src/platform/crypto.ts';
import { openPglite } from '../src/platform/db/client.ts';
import { randomAddress, startChainFixture } from './chain-fixture.ts';

let anvils: AnvilHandle[] = [];
const dir = mkdtempSync(join(tmpdir(), 'rampart-crash-'));
before(async () => {
  anvils = await Promise.all([
    startAnvil({ chainId: networkInfo('ETH').devChainId! }),
    startAnvil({ chainId: networkInfo('BSC').devChainId! }),
  ]);
});
after(async () => {
  await Promise.all(anvils.map((a) => a.stop()));
  rmSync(dir, { recursive: true, force: true });
});

test('SIGKILL between broadcast and recording it, then restart: exactly one transfer on chain', async () => {
  const secretsKey = randomHex(32);
  const chainRpcUrl = `ETH=${anvils[0]!.rpcUrl},BSC=${anvils[1]!.rpcUrl}`;
  const to = randomAddress();
  const pgliteDir = join(dir, 'pglite');
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'chain-crash-child.ts')], {
    env: {
      ...process.env,
      CRASH_PGLITE_DIR: pgliteDir,
      CRASH_SECRETS_KEY: secretsKey,
      CRASH_CHAIN_RPC_URL: chainRpcUrl,
      CRASH_TO: to,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((r) =>
    child.once('exit', (c, s) => r({ code: c, signal: s })),
  );
  assert.equal(signal, 'SIGKILL', `child exited with code ${code}`);

  // Restart: same database, same secrets, same chain.
  const db = await openPglite(pgliteDir);
  const f = await startChainFixture({ db, secretsKey, chainRpcUrl });
  try {
    const eth = await f.chain.evm('ETH');
    const hot = eth.hotAddress as Address;
    let w = (await f.chain.withdrawals.getByRef('crash-1'))!;
    assert.equal(w.status, 'signed', 'the crash came before the broadcast was recorded');
    assert.equal(await eth.client.getTransactionCount({ address: hot }), 1, 'but the transaction is on chain');

    await f.chain.withdrawals.runOnce();
    w = (await f.chain.withdrawals.get(w.id))!;
    assert.equal(w.status, 'confirming');
    await f.mine('ETH', 11);
    await f.chain.withdrawals.runOnce();
    w = (await f.chain.withdrawals.get(w.id))!;
    assert.equal(w.status, 'completed');
    assert.equal(w.attempts, 1);
    assert.equal(await eth.client.getTransactionCount({ address: hot }), 1, 'exactly one transaction sent');
    assert.equal(await eth.client.getBalance({ address: to }), parseEther('0.3'), 'exactly one transfer received');
    assert.equal((await db.query(`SELECT count(*)::int AS n FROM chain_txs`)).rows[0].n, 1);
    const a = await f.ledger.audit();
    assert.ok(a.ok, a.problems.join('; '));
  } finally {
    await f.close();
  }
});
