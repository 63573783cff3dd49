import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestApp } from './helpers.ts';

test('the app wires the chain lazily: workers running, /readyz reports it, no chain spawned until needed', async () => {
  const t = await startTestApp({ workers: true });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const res = await fetch(`${t.baseUrl}/readyz`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.database, 'ok');
    assert.match(body.chain.chain, /idle/);
    assert.equal(t.app.services.chain.isStarted(), false, 'no withdrawal or deposit address: nothing spawned');
    const list = await t.app.services.chain.networkList();
    assert.ok(list.some((n) => n.asset === 'USDT' && n.network === 'TRX' && n.simulated));
  } finally {
    await t.close();
  }
});
