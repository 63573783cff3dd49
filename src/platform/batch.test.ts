import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBatcher } from './batch.ts';

// A few turns of the event loop: enough for scheduled batches to start and settled ones to hand back.
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

test('a lone call runs at the end of the turn; calls made in one turn or while a batch runs go together', async () => {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const call = createBatcher(
    async (items: number[]) => {
      batches.push(items);
      await new Promise<void>((r) => gates.push(r));
      return items.map((x) => x * 10);
    },
    { maxBatch: 3, maxInFlight: 1 },
  );
  const first = call(1);
  assert.deepEqual(batches, [], 'the batch starts after the current turn, so calls of the same turn can join');
  await settle();
  assert.deepEqual(batches, [[1]]);
  const rest = [2, 3, 4, 5].map(call);
  await settle();
  assert.equal(batches.length, 1, 'nothing else starts while one batch is in flight');
  gates.shift()!();
  assert.equal(await first, 10);
  await settle();
  assert.deepEqual(batches, [[1], [2, 3, 4]], 'the waiting calls form the next batch, up to maxBatch');
  gates.shift()!();
  await settle();
  gates.shift()!();
  await settle();
  assert.deepEqual(await Promise.all(rest), [20, 30, 40, 50]);
  assert.deepEqual(batches, [[1], [2, 3, 4], [5]]);
});

test('maxInFlight batches run at once, and a failing batch rejects only its own calls', async () => {
  let running = 0;
  let peak = 0;
  const call = createBatcher(
    async (items: number[]) => {
      running++;
      peak = Math.max(peak, running);
      await settle();
      running--;
      if (items.includes(13)) throw new Error('unlucky');
      return items;
    },
    { maxBatch: 1, maxInFlight: 2 },
  );
  const results = await Promise.allSettled([1, 13, 3, 4].map(call));
  assert.equal(peak, 2);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
  );
});

test('a run that answers the wrong number of results fails its calls instead of misrouting them', async () => {
  const call = createBatcher(async (items: number[]) => items.slice(1), { maxBatch: 5, maxInFlight: 1 });
  await assert.rejects(call(1), /1 items/);
});

test('calls made in the same turn share one batch', async () => {
  const sizes: number[] = [];
  const call = createBatcher(async (items: number[]) => (sizes.push(items.length), items), {
    maxBatch: 10,
    maxInFlight: 1,
  });
  assert.deepEqual(await Promise.all([1, 2, 3].map(call)), [1, 2, 3]);
  assert.deepEqual(sizes, [3]);
});
