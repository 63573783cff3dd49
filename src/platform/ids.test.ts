import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createIdGenerator } from './ids.ts';

test('ids are 18-19 digits, above 2^53, strictly increasing and unique', () => {
  const ids = createIdGenerator(7);
  let prev = 0n;
  const seen = new Set<bigint>();
  for (let i = 0; i < 20_000; i++) {
    const id = ids.next();
    assert.ok(id > prev);
    assert.ok(id >= 10n ** 17n && id < 2n ** 63n);
    assert.ok(id > BigInt(Number.MAX_SAFE_INTEGER));
    seen.add(id);
    prev = id;
  }
  assert.equal(seen.size, 20_000);
  assert.match(String(prev), /^\d{18,19}$/);
});

test('two generators (processes) with different worker bits never collide', () => {
  const a = createIdGenerator(1);
  const b = createIdGenerator(2);
  const all = new Set<bigint>();
  for (let i = 0; i < 5000; i++) {
    all.add(a.next());
    all.add(b.next());
  }
  assert.equal(all.size, 10_000);
});
