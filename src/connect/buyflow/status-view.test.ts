import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnectOrder } from '../orders/store.ts';
import { orderStatusView } from './views.ts';

const order = (patch: Partial<ConnectOrder>): ConnectOrder => ({
  orderId: 'CNT1',
  partnerCode: 'p',
  merchantOrderId: 'm1',
  merchantUserId: null,
  businessType: 'BUY',
  fiatCurrency: 'USD',
  cryptoCurrency: 'USDT',
  cryptoNetwork: 'ETH',
  cryptoAddress: '0x52908400098527886E0F7030069857D2E4169EE7',
  cryptoAddressMemo: '',
  orderAmount: '100',
  userFee: '1.99',
  networkFee: '1',
  quotePrice: '1.0012',
  executePrice: '0',
  obtainAmount: '0',
  mainStatus: 'PROCESSING',
  subStatus: 'PAYMENT_PROCESSING',
  errorCode: null,
  errorReason: null,
  withdrawTxHash: null,
  merchantRedirectUrl: null,
  merchantNote: null,
  clientUserIp: null,
  expiredTime: 0,
  createdAt: 0,
  updatedAt: 0,
  generation: 1,
  gen2: null,
  gen2Status: null,
  linkTokenSealed: null,
  openUserId: null,
  completedAt: null,
  ...patch,
});
const locked = { quotePrice: '1.0009', userFee: '1.99', networkFee: '1', cryptoAmount: '96.922676' };

test('status view: while paying, the locked price and amount (never 0) and the first step current', () => {
  const h = orderStatusView({ order: order({}), locked, txHash: null, txUrl: null }).value;
  assert.match(h, /id="price">1 USDT = 1\.0009 USD</);
  assert.match(h, /id="obtain">96\.922676 USDT</);
  assert.doesNotMatch(h, /= 0 USD/);
  assert.match(h, /<li class="current" aria-current="step">Payment<\/li>/);
});

test(
  "status view: completed with the executed figures and the transaction linked to the network's explorer when " +
    'there is one',
  () => {
    const o = order({
      mainStatus: 'SUCCESS',
      subStatus: 'COMPLETED',
      executePrice: '1.0009',
      obtainAmount: '96.922676',
      withdrawTxHash: '0xabc',
    });
    const linked = orderStatusView({ order: o, locked, txHash: '0xabc', txUrl: 'https://etherscan.io/tx/0xabc' }).value;
    assert.match(linked, /<a id="tx-hash" href="https:\/\/etherscan\.io\/tx\/0xabc"/);
    assert.equal((linked.match(/class="done"/g) ?? []).length, 4, 'every step done');
    const plain = orderStatusView({ order: o, locked, txHash: '0xabc', txUrl: null }).value;
    assert.match(plain, /<span id="tx-hash"[^>]*>0xabc</);
  },
);

test('status view: a failed purchase marks the purchase step failed; a restricted region says so', () => {
  const pf = orderStatusView({
    order: order({ mainStatus: 'FAILURE', subStatus: 'FAILED', errorCode: 'PURCHASE_FAILED', errorReason: 'x' }),
    locked,
    txHash: null,
    txUrl: null,
  }).value;
  assert.match(pf, /<li class="done">Payment<\/li><li class="failed" aria-current="step">Purchase<\/li>/);
  assert.match(pf, /Purchase failed: your payment was refunded/);
  const rr = orderStatusView({
    order: order({ mainStatus: 'FAILURE', subStatus: 'FAILED', errorCode: 'REGION_RESTRICTED' }),
    locked: null,
    txHash: null,
    txUrl: null,
  }).value;
  assert.match(rr, /Not available in your region/);
  assert.match(rr, /id="price">1 USDT = 1\.0012 USD</, 'the created quote when nothing was locked');
});
