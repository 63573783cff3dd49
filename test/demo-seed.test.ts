import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { seedDemo } from '../src/bootstrap.ts';
import { startTestApp, snapshot, type TestApp } from './helpers.ts';
import { connectClient } from './support/connect-client.ts';
import { formBrowser } from './support/form-browser.ts';

/**
 * The sandbox's first-start seed: logins for the merchant dashboard and the partner portal that work on the real
 * pages, a partner key pair that signs Connect requests from this machine at once, passwords made per install and
 * kept only hashed, and a second run that changes nothing.
 */
let t: TestApp;
let creds: any;
before(async () => {
  t = await startTestApp();
  const seeded = await seedDemo(t.app, t.db, t.config);
  assert.equal(seeded.seeded, true);
  creds = JSON.parse(readFileSync(seeded.path, 'utf8'));
});
after(() => t.close());

test('the demo dashboard login opens the merchant dashboard', async () => {
  assert.equal(creds.dashboard.loginUrl, `${t.baseUrl}/en/dashboard/login`);
  const b = formBrowser(t.baseUrl);
  const login = await b.submit('/en/dashboard/login', '/en/dashboard/login', {
    email: creds.dashboard.email,
    password: creds.dashboard.password,
  });
  assert.equal(login.status, 303, login.body);
  const orders = await b.get('/en/dashboard/orders');
  assert.equal(orders.status, 200);
  assert.match(orders.body, /Demo Merchant/);
});

test('the demo partner logs in to the portal and signs Connect requests with the written key from loopback', async () => {
  assert.match(creds.partner.merchantCode, /_test$/);
  assert.deepEqual(creds.partner.ipWhitelist, ['127.0.0.1', '::1']);
  const b = formBrowser(t.baseUrl);
  const page = await b.get('/en/partner/login');
  const login = await b.post('/en/partner/login', {
    _csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '',
    email: creds.partner.portal.email,
    password: creds.partner.portal.password,
  });
  assert.equal(login.status, 302, login.body);
  assert.equal(login.location, '/en/partner/orders');
  assert.equal((await b.get('/en/partner/orders')).status, 200);

  const keyFile = creds.partner.privateKeyFile;
  assert.equal(statSync(keyFile).mode & 0o777, 0o600, 'the private key is readable by its owner only');
  const client = connectClient(t.baseUrl, creds.partner.merchantCode, readFileSync(keyFile, 'utf8'));
  const networks = await client.call('get-crypto-network-list');
  assert.equal(networks.status, 200, networks.text);
  assert.equal(networks.json.success, true, networks.text);
  assert.equal(creds.partner.apiBaseUrl, `${t.baseUrl}/gateway-api/v1/public/open-api/connect`);
});

test('the demo passwords are stored only as hashes', async () => {
  const stored = JSON.stringify(
    [
      (await t.db.query(`SELECT * FROM merchant_users`)).rows,
      (await t.db.query(`SELECT * FROM connect_partners`)).rows,
      (await t.db.query(`SELECT * FROM buyflow_users`)).rows,
    ],
    (_k, v) => (typeof v === 'bigint' ? String(v) : v),
  );
  for (const password of [creds.dashboard.password, creds.partner.portal.password, creds.payer.password])
    assert.equal(stored.includes(password), false);
  assert.match(stored, /scrypt\$/);
});

test('a second run changes nothing: no new rows, the same credentials file', async () => {
  const before = await snapshot(t.db);
  const file = readFileSync(`${t.config.dataDir}/demo-credentials.json`, 'utf8');
  const key = readFileSync(creds.partner.privateKeyFile, 'utf8');
  const again = await seedDemo(t.app, t.db, t.config);
  assert.equal(again.seeded, false);
  assert.deepEqual(await snapshot(t.db), before);
  assert.equal(readFileSync(`${t.config.dataDir}/demo-credentials.json`, 'utf8'), file);
  assert.equal(readFileSync(creds.partner.privateKeyFile, 'utf8'), key);
});

test('each install gets its own passwords and partner key', async () => {
  const other = await startTestApp();
  try {
    const seeded = await seedDemo(other.app, other.db, other.config);
    const second = JSON.parse(readFileSync(seeded.path, 'utf8'));
    assert.notEqual(second.dashboard.password, creds.dashboard.password);
    assert.notEqual(second.partner.portal.password, creds.partner.portal.password);
    assert.notEqual(second.payer.password, creds.payer.password);
    assert.notEqual(
      readFileSync(second.partner.privateKeyFile, 'utf8'),
      readFileSync(creds.partner.privateKeyFile, 'utf8'),
    );
  } finally {
    await other.close();
  }
});

test('two starts at once seed once; a seed cut short is reported, not retried into a failure', async () => {
  const other = await startTestApp();
  try {
    const [a, b] = await Promise.all([
      seedDemo(other.app, other.db, other.config),
      seedDemo(other.app, other.db, other.config),
    ]);
    assert.deepEqual([a.seeded, b.seeded].sort(), [false, true]);
    const merchants = await other.db.query(`SELECT count(*)::int AS n FROM merchants`);
    assert.equal(merchants.rows[0].n, 1);
    // The state a crash between the first account and the end leaves behind: claimed, never finished.
    await other.db.query(`UPDATE platform_settings SET value = 'started' WHERE key = 'demo_seeded'`);
    const after = await seedDemo(other.app, other.db, other.config);
    assert.deepEqual(after, { seeded: false, path: a.path, interrupted: true });
  } finally {
    await other.close();
  }
});
