import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startAnvil, type AnvilHandle } from '../src/chain/anvil.ts';
import { NETWORKS } from '../src/chain/networks.ts';
import { randomAddress, startChainFixture, type ChainFixture } from './chain-fixture.ts';

/**
 * A node that stops answering is not a failed withdrawal: it waits in `requested` (hold kept, no nonce used) and goes
 * out by itself once the node is back. The node here is an anvil behind a proxy the test can switch off.
 */
function switchableProxy(target: string) {
  let down = false;
  const server: Server = createServer((req, res) => {
    if (down) return req.socket.destroy();
    const url = new URL(target);
    const fwd = request(
      { host: url.hostname, port: url.port, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  return {
    listen: () =>
      new Promise<string>((r) =>
        server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
      ),
    set down(v: boolean) {
      down = v;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

describe('chain withdrawals while the node is unreachable', () => {
  let anvil: AnvilHandle;
  let proxy: ReturnType<typeof switchableProxy>;
  let f: ChainFixture;
  before(async () => {
    anvil = await startAnvil({ chainId: NETWORKS.ETH!.devChainId! });
    proxy = switchableProxy(anvil.rpcUrl);
    f = await startChainFixture({ chainRpcUrl: `ETH=${await proxy.listen()}` });
  });
  after(async () => {
    await f?.close();
    await proxy?.close();
    await anvil?.stop();
  });

  test('a withdrawal waits (RPC_UNREACHABLE) with its hold while the node is down, then completes once', async () => {
    await f.fundUser('outage-1', 'USDT', '50');
    proxy.down = true;
    const r = await f.chain.withdrawals.request({
      ref: 'outage-1',
      ownerType: 'user',
      ownerId: 'outage-1',
      asset: 'USDT',
      network: 'ETH',
      address: randomAddress(),
      amount: '20',
    });
    assert.ok(r.ok);
    for (let i = 0; i < 3; i++) await f.chain.withdrawals.process(r.value.id);
    const waiting = (await f.chain.withdrawals.get(r.value.id))!;
    assert.equal(waiting.status, 'requested', 'not failed');
    assert.equal(waiting.waitingReason, 'RPC_UNREACHABLE');
    assert.equal(waiting.attempts, 0, 'nothing signed, no nonce used');
    const held = await f.ledger.balance(f.db, { ownerType: 'user', ownerId: 'outage-1', asset: 'USDT' });
    assert.equal(held.held, '20');

    proxy.down = false;
    for (let i = 0; i < 30 && (await f.chain.withdrawals.get(r.value.id))!.status !== 'completed'; i++) {
      await f.chain.withdrawals.process(r.value.id);
      await f.mine('ETH', 3);
    }
    const done = (await f.chain.withdrawals.get(r.value.id))!;
    assert.equal(done.status, 'completed');
    assert.equal(done.waitingReason, null);
    assert.equal(done.attempts, 1, 'one transaction');
    assert.deepEqual((await f.chain.reconcileHotWallets()).problems, []);
    assert.deepEqual((await f.ledger.audit()).problems, []);
  });
});
