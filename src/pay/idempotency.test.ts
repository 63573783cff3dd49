import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, requestFingerprint } from './idempotency.ts';

test('the fingerprint ignores key order and undefined members, and tells different values apart', () => {
  assert.equal(canonicalJson({ b: 1, a: [{ y: '2', x: undefined }] }), '{"a":[{"y":"2"}],"b":1}');
  assert.equal(requestFingerprint({ a: '1.5', b: 'X' }), requestFingerprint({ b: 'X', a: '1.5' }));
  assert.notEqual(requestFingerprint({ a: '1.5' }), requestFingerprint({ a: '1.50' }));
  assert.notEqual(requestFingerprint({ a: null }), requestFingerprint({ a: 'null' }));
  assert.equal(canonicalJson(10n), '"10"');
});
