import assert from 'node:assert/strict';
import { test } from 'node:test';
import { base32Decode, base32Encode, totpCode, totpMatch, totpStep } from './totp.ts';

// RFC 6238 appendix B, SHA1 rows: the ASCII secret "12345678901234567890", 8 digits.
const RFC_SECRET = base32Encode(Buffer.from('12345678901234567890'));
const VECTORS: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

test('TOTP: the RFC 6238 SHA1 test vectors', () => {
  for (const [seconds, code] of VECTORS) assert.equal(totpCode(RFC_SECRET, totpStep(seconds * 1000), 8), code);
});

test('TOTP: base32 round trip and the published encoding', () => {
  assert.equal(RFC_SECRET, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  assert.deepEqual(base32Decode(RFC_SECRET), Buffer.from('12345678901234567890'));
});

test('TOTP: a code matches its step and the neighbours only', () => {
  const now = 1_700_000_000_000;
  const step = totpStep(now);
  assert.equal(totpMatch(RFC_SECRET, totpCode(RFC_SECRET, step), now), step);
  assert.equal(totpMatch(RFC_SECRET, totpCode(RFC_SECRET, step - 1), now), step - 1);
  assert.equal(totpMatch(RFC_SECRET, totpCode(RFC_SECRET, step + 1), now), step + 1);
  assert.equal(totpMatch(RFC_SECRET, totpCode(RFC_SECRET, step - 2), now), null);
  assert.equal(totpMatch(RFC_SECRET, 'abcdef', now), null);
});
