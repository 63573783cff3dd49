import assert from 'node:assert/strict';
import type { BuyflowUser } from '../../src/connect/buyflow/service.ts';
import type { TestApp } from '../helpers.ts';
import type { onboardPartner } from './connect-client.ts';

/**
 * The hosted buy flow's test fixture, at the service layer: partner orders, users through sign-up and the mailed code,
 * KYC passed by the operator, saved cards. The browser and HTTP tests give the user a session cookie afterwards.
 */
export const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d000000' +
    '0049454e44ae426082',
  'hex',
);
export const TRX_ADDRESS = 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t';
export const kycInput = (country = 'FR', extra: Record<string, string> = {}) => ({
  country,
  idCountry: country,
  documentType: 'PASSPORT',
  firstName: 'Ana',
  lastName: 'Lee',
  dateOfBirth: '1990-01-01',
  files: [
    { field: 'front' as const, bytes: PNG },
    { field: 'selfie' as const, bytes: PNG },
  ],
  ...extra,
});

type Partner = Awaited<ReturnType<typeof onboardPartner>>;
let seq = 0;

export function buyflowFixture(app: () => TestApp, defaultPartner: () => Partner) {
  const t = app;
  const bf = () => t().app.services.buyflow;

  /** A partner order (TRX, simulated: no chain to wait for unless the test names another network). */
  async function newOrder(amount = '100', extra: Record<string, unknown> = {}, partner = defaultPartner()) {
    const r = await partner.client.call('buy-withdraw-crypto', {
      merchantOrderId: `bf${Date.now()}${++seq}`,
      fiatCurrency: 'USD',
      cryptoCurrency: 'USDT',
      orderAmount: Number(amount),
      merchantRedirectUrl: 'https://wallet.example/done',
      withdrawCryptoInfo: { cryptoNetwork: 'TRX', cryptoAddress: TRX_ADDRESS },
      ...extra,
    });
    assert.equal(r.json.code, '000000', r.text);
    const found = (await bf().orderByToken(r.json.data.token))!;
    return { token: r.json.data.token as string, url: r.json.data.eternalRedirectUrl as string, order: found.order };
  }

  /** Signed up with the mailed code and consent: logged in, not yet verified. */
  async function newUser(email = `bf${Date.now()}-${++seq}@example.com`): Promise<BuyflowUser> {
    const s = await bf().signup({ kind: 'email', identifier: email, password: 'Passw0rdX' });
    assert.ok(s.ok, JSON.stringify(s));
    const code = /(\d{6})/.exec((await t().app.services.mailer.list(email))[0]!.text)![1]!;
    const v = await bf().verifyCode(s.value.userId, code, { terms: true, marketing: false });
    assert.ok(v.ok, JSON.stringify(v));
    return v.value;
  }

  /** KYC submitted on an order of its own and passed by the operator: VERIFIED. */
  async function verifiedUser(country = 'FR'): Promise<BuyflowUser> {
    const u = await newUser();
    const { order } = await newOrder();
    assert.ok((await bf().attach(order, u.id)).ok);
    const k = await bf().submitKyc(u, order, kycInput(country));
    assert.ok(k.ok, JSON.stringify(k));
    const st = (await t().app.services.kyc.buyflowStatus(t().db, `buyflow:${u.id}`))!;
    assert.ok((await t().app.services.kyc.decide(st.recordId, 'PASS')).ok);
    assert.equal((await bf().syncKyc(u.id)).state, 'VERIFIED');
    return (await bf().getUser(u.id))!;
  }

  async function addCard(userId: string, number = '4242424242424242') {
    const r = await bf().addCard((await bf().getUser(userId))!, {
      name: 'Ana Lee',
      number,
      expiry: '12/34',
      cvv: '123',
    });
    assert.ok(r.ok, JSON.stringify(r));
    return r.value;
  }

  /** A new order attached to the user with its 59 s quote locked: ready to confirm. */
  async function quotedOrder(userId: string, amount = '100') {
    const o = await newOrder(amount);
    assert.ok((await bf().attach(o.order, userId)).ok);
    assert.ok((await bf().lockQuote(o.order.orderId, userId)).ok);
    return o;
  }

  return { newOrder, newUser, verifiedUser, addCard, quotedOrder };
}
