import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLoop } from './worker.ts';

test('a loop that always reports work still lets timers and I/O run', async () => {
  let ticks = 0;
  const loop = startLoop('busy', async () => ++ticks, { idleMs: 1000 });
  // Without a yield between busy ticks this timer would never fire (ticks resolve through microtasks only).
  await new Promise((r) => setTimeout(r, 20));
  await loop.stop();
  assert.ok(ticks > 1);
});

test('an idle loop waits idleMs, and kick wakes it at once', async () => {
  let ticks = 0;
  const loop = startLoop('idle', async () => (ticks++, 0), { idleMs: 10_000 });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(ticks, 1);
  loop.kick();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(ticks, 2);
  await loop.stop();
});
