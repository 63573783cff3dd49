import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveFeatures, featureEnabled, keyHasPermission } from './features.ts';

test('a flag takes the operator override, else the mode default (binance-pay-extended.md §9.1)', () => {
  const plain = { features: {} };
  assert.equal(featureEnabled(plain, 'reports', 'sandbox'), true);
  assert.equal(featureEnabled(plain, 'reports', 'production'), false);
  assert.equal(featureEnabled(plain, 'channelPartner', 'sandbox'), false);
  assert.equal(featureEnabled({ features: { reports: true } }, 'reports', 'production'), true);
  assert.equal(featureEnabled({ features: { payout: false } }, 'payout', 'sandbox'), false);
  assert.equal(effectiveFeatures(plain, 'production').walletTransfer, true);
});

test('payout is a key permission: sandbox keys have it by default, production keys only when granted', () => {
  assert.equal(keyHasPermission({ permissions: null }, 'PAYOUT', 'sandbox'), true);
  assert.equal(keyHasPermission({ permissions: null }, 'PAYOUT', 'production'), false);
  assert.equal(keyHasPermission({ permissions: ['PAYOUT'] }, 'PAYOUT', 'production'), true);
  assert.equal(keyHasPermission({ permissions: [] }, 'PAYOUT', 'sandbox'), false);
});
