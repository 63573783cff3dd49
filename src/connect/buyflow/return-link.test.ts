import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnectOrder, Gen2Fields } from '../orders/store.ts';
import { expiredView, partnerDisplayName, returnLink, statusView } from './views.ts';

/**
 * Where the hosted pages send the person back to (binance-connect-v2.md §4.7.2, §7): gen-1's merchantRedirectUrl;
 * gen-2's redirectUrl or failRedirectUrl by outcome, deep links for clientType=mobile, AUTO_REDIRECTION only on a
 * final status, MERCHANT_DISPLAY_NAME as the partner's name.
 */
const gen2 = (patch: Partial<Gen2Fields> = {}): Gen2Fields => ({
  amountType: 1,
  requestedAmount: '100',
  payMethodCode: 'BUY_CARD',
  payMethodSubCode: 'card',
  redirectUrl: 'https://wallet.example/done',
  failRedirectUrl: 'https://wallet.example/failed',
  redirectDeepLink: 'mywallet://done',
  failRedirectDeepLink: 'mywallet://failed',
  clientType: 'web',
  customization: {},
  userData: null,
  affiliateCode: null,
  gtrTemplateCode: null,
  feeUsd: '1.99',
  ...patch,
});
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
  subStatus: 'PURCHASE_PROCESSING',
  errorCode: null,
  errorReason: null,
  withdrawTxHash: null,
  merchantRedirectUrl: 'https://wallet.example/gen1',
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
const g2 = (status: number, fields: Partial<Gen2Fields> = {}) =>
  order({ generation: 2, gen2: gen2(fields), gen2Status: status, merchantRedirectUrl: 'https://wallet.example/done' });

test('gen-1: merchantRedirectUrl whatever the outcome, never automatic; none → the Done button', () => {
  assert.deepEqual(returnLink(order({}), 'Acme'), {
    url: 'https://wallet.example/gen1',
    partnerName: 'Acme',
    auto: false,
  });
  assert.equal(returnLink(order({ merchantRedirectUrl: null }), 'Acme'), null);
  const page = { token: 't', csrf: 'c', brand: 'Rampart' };
  const v = { origins: [], step: 'OPEN' as const, locked: null, txHash: null, txUrl: null };
  const h = statusView(page, order({ merchantRedirectUrl: null }), { ...v, returnTo: null, generation: 1 }).value;
  assert.match(h, /id="done"/);
  const h2 = statusView(page, g2(1), { ...v, returnTo: null, generation: 2 }).value;
  assert.doesNotMatch(h2, /id="done"|id="close"/, 'gen-2 without an address: no button');
});

test('gen-2: redirectUrl while running and on 20; failRedirectUrl on 96–99 and on expiry', () => {
  for (const s of [0, 1, 2, 10, 11, 20]) assert.equal(returnLink(g2(s), 'Acme')?.url, 'https://wallet.example/done');
  for (const s of [96, 97, 98, 99]) assert.equal(returnLink(g2(s), 'Acme')?.url, 'https://wallet.example/failed');
  assert.equal(returnLink(g2(0), 'Acme', true)?.url, 'https://wallet.example/failed');
  assert.equal(returnLink(g2(99, { failRedirectUrl: null }), 'Acme'), null, 'no address for the outcome: no button');
  assert.equal(returnLink(g2(20, { redirectUrl: null }), 'Acme'), null);
});

test('gen-2: deep links only for clientType=mobile, the URL when the deep link is missing', () => {
  assert.equal(returnLink(g2(20, { clientType: 'mobile' }), 'A')?.url, 'mywallet://done');
  assert.equal(returnLink(g2(98, { clientType: 'mobile' }), 'A')?.url, 'mywallet://failed');
  assert.equal(returnLink(g2(20, { clientType: null }), 'A')?.url, 'https://wallet.example/done');
  const noDeep = g2(97, { clientType: 'mobile', failRedirectDeepLink: null });
  assert.equal(returnLink(noDeep, 'A')?.url, 'https://wallet.example/failed');
});

test('gen-2: AUTO_REDIRECTION on final statuses only; the page carries the marker the script follows', () => {
  const auto = { customization: { AUTO_REDIRECTION: true } };
  for (const s of [0, 1, 2, 10, 11]) assert.equal(returnLink(g2(s, auto), 'A')?.auto, false, `status ${s}`);
  for (const s of [20, 96, 97, 98, 99]) assert.equal(returnLink(g2(s, auto), 'A')?.auto, true, `status ${s}`);
  assert.equal(returnLink(g2(0, auto), 'A', true)?.auto, true);
  assert.equal(returnLink(g2(20), 'A')?.auto, false);
  assert.equal(returnLink(g2(20, { customization: { AUTO_REDIRECTION: false } }), 'A')?.auto, false);
  assert.match(
    expiredView(returnLink(g2(0, auto), 'A', true)).value,
    /id="close" href="https:\/\/wallet\.example\/failed" data-auto-return/,
  );
});

test('MERCHANT_DISPLAY_NAME names the partner on a gen-2 order only', () => {
  assert.equal(
    partnerDisplayName(g2(0, { customization: { MERCHANT_DISPLAY_NAME: 'Tesla Pay' } }), 'Acme'),
    'Tesla Pay',
  );
  assert.equal(partnerDisplayName(g2(0), 'Acme'), 'Acme');
  assert.equal(partnerDisplayName(g2(0, { customization: { MERCHANT_DISPLAY_NAME: '  ' } }), 'Acme'), 'Acme');
  assert.equal(partnerDisplayName(order({}), 'Acme'), 'Acme');
});
