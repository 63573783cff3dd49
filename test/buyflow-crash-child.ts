/**
 * Child process of test/buyflow-crash.test.ts: builds the whole app on a migrated PGlite directory (the parent's
 * copy), has a partner open an ETH/USDT order that a verified user (KYC passed, card 4242…) locks and confirms, and
 * SIGKILLs itself at the buy-flow fault point CRASH_POINT. Not a test file on its own.
 */
import { mkdirSync } from 'node:fs';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { FaultPoint } from '../src/connect/buyflow/purchase.ts';
import { openPglite } from '../src/platform/db/client.ts';
import { createLogger } from '../src/platform/logger.ts';
import { freePort, type TestApp } from './helpers.ts';
import { onboardPartner } from './support/connect-client.ts';

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const point = env('CRASH_POINT') as FaultPoint;
const adminToken = env('CRASH_ADMIN_TOKEN');
function fail(what: string): never {
  console.error(`buyflow-crash-child (${point}): ${what}`);
  process.exit(2);
}

const port = await freePort();
const baseUrl = `http://127.0.0.1:${port}`;
mkdirSync(env('CRASH_DATA_DIR'), { recursive: true });
const db = await openPglite(env('CRASH_PGLITE_DIR'));
const config = loadConfig({
  RAMPART_MODE: 'sandbox',
  LOG_LEVEL: 'silent',
  PORT: String(port),
  PUBLIC_URL: baseUrl,
  DATA_DIR: env('CRASH_DATA_DIR'),
  CHAIN_RPC_URL: env('CRASH_CHAIN_RPC_URL'),
  CONNECT_RATE_PER_SECOND: '100000',
});
const app = await buildApp({
  config,
  db,
  adminToken,
  secretsKey: env('CRASH_SECRETS_KEY'),
  logger: createLogger('silent'),
  buyflow: {
    leaseMs: Number(env('CRASH_LEASE_MS')),
    faults: {
      at: (p) => {
        if (p === point) process.kill(process.pid, 'SIGKILL');
      },
    },
  },
});
const server = await app.createServer();
await server.listen({ port, host: '127.0.0.1' });

// onboardPartner needs only the admin API of a test app.
const admin: TestApp['admin'] = async (method, path, body) => {
  const res = await fetch(baseUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
};
const partner = await onboardPartner({ baseUrl, admin } as TestApp);
const created = await partner.client.call('buy-withdraw-crypto', {
  merchantOrderId: `crash-${point}`,
  fiatCurrency: 'USD',
  cryptoCurrency: 'USDT',
  orderAmount: 100,
  merchantRedirectUrl: 'https://wallet.example/done',
  withdrawCryptoInfo: { cryptoNetwork: 'ETH', cryptoAddress: env('CRASH_TO') },
});
if (created.json?.code !== '000000') fail(`order not created: ${created.text}`);

const bf = app.services.buyflow;
const { order } = (await bf.orderByToken(created.json.data.token)) ?? fail('order not found by its token');
const email = `crash-${point}@example.com`;
const s = await bf.signup({ kind: 'email', identifier: email, password: 'Passw0rdX' });
if (!s.ok) fail(`signup: ${s.code}`);
const code = /(\d{6})/.exec((await app.services.mailer.list(email))[0]?.text ?? '')?.[1] ?? fail('no code mailed');
const v = await bf.verifyCode(s.value.userId, code, { terms: true, marketing: false });
if (!v.ok) fail(`verify code: ${v.code}`);
const user = v.value;
if (!(await bf.attach(order, user.id)).ok) fail('attach');
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d000000' +
    '0049454e44ae426082',
  'hex',
);
const k = await bf.submitKyc(user, order, {
  country: 'FR',
  idCountry: 'FR',
  documentType: 'PASSPORT',
  firstName: 'Ana',
  lastName: 'Lee',
  dateOfBirth: '1990-01-01',
  files: [
    { field: 'front', bytes: PNG },
    { field: 'selfie', bytes: PNG },
  ],
});
if (!k.ok) fail(`KYC submit: ${k.code}`);
const st = (await app.services.kyc.buyflowStatus(db, `buyflow:${user.id}`)) ?? fail('no KYC record');
if (!(await app.services.kyc.decide(st.recordId, 'PASS')).ok) fail('KYC decision');
if ((await bf.syncKyc(user.id)).state !== 'VERIFIED') fail('user not verified');
const card = await bf.addCard((await bf.getUser(user.id))!, {
  name: 'Ana Lee',
  number: '4242424242424242',
  expiry: '12/34',
  cvv: '123',
});
if (!card.ok) fail(`add card: ${card.code}`);
if (!(await bf.lockQuote(order.orderId, user.id)).ok) fail('lock quote');
// Confirm drives the order itself (authorize → capture → purchase → withdrawal request): the fault hook ends the
// process on the way.
const r = await bf.confirm(order.orderId, user.id, card.value.id);
fail(`the injected crash did not happen (confirm: ${JSON.stringify(r)})`);
