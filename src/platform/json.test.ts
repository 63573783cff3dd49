import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLossless, raw, stringify } from './json.ts';

test('number literals keep their exact text', () => {
  const v = parseLossless(
    '{"a": 0.1000000000000000055, "b": [1, -2.50, 376823612387012608], "s": "9.9", "t": true, "n": null, "e": 1e2}',
  );
  assert.deepEqual(v, {
    a: '0.1000000000000000055',
    b: ['1', '-2.50', '376823612387012608'],
    s: '9.9',
    t: true,
    n: null,
    e: '1e2',
  });
});

test('digits inside strings, escapes and nesting are left alone', () => {
  const v = parseLossless('{"k\\"1": "a\\\\\\"5", "o": {"x": [ {"y": 12} ]}}');
  assert.deepEqual(v, { 'k"1': 'a\\"5', o: { x: [{ y: '12' }] } });
});

test('malformed JSON still throws', () => {
  assert.throws(() => parseLossless('{"a": 01}'));
  assert.throws(() => parseLossless('{"a": 1.}'));
  assert.throws(() => parseLossless('{"a": }'));
});

test('stringify writes raw numbers and bigints verbatim', () => {
  assert.equal(
    stringify({ a: raw('0.88000000'), b: 376823612387012608n, c: 'x', d: undefined, e: [raw('1'), null] }),
    '{"a":0.88000000,"b":376823612387012608,"c":"x","e":[1,null]}',
  );
});
