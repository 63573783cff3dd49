import assert from 'node:assert/strict';
import { test } from 'node:test';
import { displayAmount, displayNumber } from './amount.ts';

test('amounts drop trailing zeros down to the asset display decimals, never a significant digit', () => {
  assert.equal(displayAmount('7.25000000', 'USDT'), '7.25 USDT');
  assert.equal(displayAmount('5.00000000', 'USDT'), '5.00 USDT');
  assert.equal(displayAmount('5', 'USDC'), '5.00 USDC');
  assert.equal(displayAmount('0.12345678', 'USDT'), '0.12345678 USDT');
  assert.equal(displayAmount('1.00000000', 'BTC'), '1 BTC');
  assert.equal(displayAmount('0.01500000', 'ETH'), '0.015 ETH');
  assert.equal(displayAmount('75.5', 'USD'), '75.50 USD');
  assert.equal(displayNumber('-2.50000000', 'USDT'), '-2.50');
  assert.equal(displayNumber('120000000000.10000000', 'BUSD'), '120000000000.10');
  assert.equal(displayNumber('—', 'USDT'), '—');
});
