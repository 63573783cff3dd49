import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey, createVerify, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { DB_KINDS, freePort, startTestApp, type TestApp } from './helpers.ts';
import { productionEnv } from './support/production-env.ts';
import { onboardPartner, rsaPair } from './support/connect-client.ts';
import { ACK, startReceiver, waitFor } from './support/webhook-receiver.ts';

/** Partner onboarding (admin API and CLI), key rotation with an overlap, and the RSA-signed order-status webhook. */
const run = promisify(execFile);
const ETH_ADDR = '0x52908400098527886E0F7030069857D2E4169EE7';
let seq = 0;
const order = () => ({
  merchantOrderId: `o${Date.now()}_${++seq}`,
  fiatCurrency: 'EUR',
  cryptoCurrency: 'USDT',
  orderAmount: 50,
  merchantUserId: 'u-1',
  withdrawCryptoInfo: { cryptoAddress: ETH_ADDR, cryptoAddressMemo: '', cryptoNetwork: 'ETH' },
});

/** Webhook verification as a partner would write it from spec §7 alone. */
function partnerVerifiesWebhook(platformPublicKeyPem: string, headers: Record<string, any>, rawBody: Buffer): boolean {
  const ts = String(headers['x-bn-connect-timestamp']);
  const sig = String(headers['x-bn-connect-signature']);
  return createVerify('RSA-SHA256')
    .update(Buffer.concat([rawBody, Buffer.from(ts, 'utf8')]))
    .verify(platformPublicKeyPem, sig, 'base64');
}

for (const kind of DB_KINDS) {
  describe(`Connect onboarding, keys and webhooks (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ kind, workers: true, env: { CONNECT_RATE_PER_SECOND: '100000' } });
    });
    after(async () => t.close());

    test('onboarding returns a test-environment code, the platform public key, and emails a password link', async () => {
      const keys = rsaPair();
      const r = await t.admin('POST', '/admin/v1/partners', {
        name: 'Acme',
        email: 'Admin@Acme.example',
        publicKey: keys.publicKey,
        ipWhitelist: ['127.0.0.1', '10.0.0.0/8'],
        redirectDomains: ['acme.example'],
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      assert.equal(r.json.merchantCode, 'acme_test');
      assert.equal(r.json.environment, 'test');
      assert.equal(r.json.email, 'admin@acme.example');
      const platformKey = createPublicKey(r.json.platformPublicKey);
      assert.equal(platformKey.asymmetricKeyType, 'rsa');
      assert.equal((await t.app.services.signingKeys.current('connect')).publicKeyPem, r.json.platformPublicKey);
      const mail = await t.app.services.mailer.list('admin@acme.example');
      assert.equal(mail.length, 1);
      assert.match(mail[0]?.text ?? '', /acme_test/);
      assert.match(mail[0]?.text ?? '', new RegExp(`${t.baseUrl}/en/partner/set-password\\?token=[0-9a-f]{48}`));
      // A second partner of the same name gets its own code; the same email is refused.
      const again = await t.admin('POST', '/admin/v1/partners', {
        name: 'Acme',
        email: 'other@acme.example',
        publicKey: keys.publicKey,
        ipWhitelist: ['127.0.0.1'],
      });
      assert.equal(again.json.merchantCode, 'acme2_test');
      const dup = await t.admin('POST', '/admin/v1/partners', {
        name: 'Acme 3',
        email: 'admin@acme.example',
        publicKey: keys.publicKey,
        ipWhitelist: ['127.0.0.1'],
      });
      assert.deepEqual([dup.status, dup.json.error.code], [409, 'EMAIL_TAKEN']);
    });

    test(
      'onboarding takes publicKeyPem and returns platformPublicKeyPem (the platform contract); publicKey and ' +
        'platformPublicKey stay as aliases',
      async () => {
        const keys = rsaPair();
        const base = { name: 'Contract', ipWhitelist: ['127.0.0.1'] };
        const r = await t.admin('POST', '/admin/v1/partners', {
          ...base,
          email: 'pem@contract.example',
          publicKeyPem: keys.publicKey,
        });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        const platformPem = (await t.app.services.signingKeys.current('connect')).publicKeyPem;
        assert.equal(r.json.platformPublicKeyPem, platformPem);
        assert.equal(r.json.platformPublicKey, platformPem);
        const both = await t.admin('POST', '/admin/v1/partners', {
          ...base,
          email: 'both@contract.example',
          publicKeyPem: keys.publicKey,
          publicKey: keys.publicKey,
        });
        assert.equal(both.status, 201, JSON.stringify(both.json));
        const differ = await t.admin('POST', '/admin/v1/partners', {
          ...base,
          email: 'differ@contract.example',
          publicKeyPem: keys.publicKey,
          publicKey: rsaPair().publicKey,
        });
        assert.deepEqual([differ.status, differ.json.error.code], [400, 'INVALID_PUBLIC_KEY']);
        const none = await t.admin('POST', '/admin/v1/partners', { ...base, email: 'none@contract.example' });
        assert.deepEqual([none.status, none.json.error.code], [400, 'INVALID_PUBLIC_KEY']);
        assert.match(none.json.error.message, /publicKeyPem is required/);
      },
    );

    test('production deployments issue codes without the _test suffix and their own platform key', async () => {
      const prod = await startTestApp({ kind, env: await productionEnv({ ALLOW_INSECURE_HTTP: '1' }) });
      try {
        const keys = rsaPair();
        const r = await prod.admin('POST', '/admin/v1/partners', {
          name: 'Acme',
          email: 'admin@acme.example',
          publicKey: keys.publicKey,
          ipWhitelist: ['127.0.0.1'],
        });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        assert.equal(r.json.merchantCode, 'acme');
        assert.equal(r.json.environment, 'production');
        assert.notEqual(r.json.platformPublicKey, (await t.app.services.signingKeys.current('connect')).publicKeyPem);
      } finally {
        await prod.close();
      }
    });

    test('onboarding refuses anything but an RSA public key of at least 1024 bits, with a clear message', async () => {
      const base = { name: 'Keyless', email: 'k@keyless.example', ipWhitelist: ['127.0.0.1'] };
      const refuse = async (publicKey: string, pattern: RegExp) => {
        const r = await t.admin('POST', '/admin/v1/partners', { ...base, publicKey });
        assert.equal(r.status, 400, publicKey.slice(0, 40));
        assert.equal(r.json.error.code, 'INVALID_PUBLIC_KEY');
        assert.match(r.json.error.message, pattern);
      };
      const ec = generateKeyPairSync('ec', {
        namedCurve: 'prime256v1',
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      await refuse(ec.publicKey, /key type ec is not accepted; only RSA/);
      const ed = generateKeyPairSync('ed25519', {
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      await refuse(ed.publicKey, /ed25519/);
      await refuse(rsaPair(512).publicKey, /512 bits is too short; at least 1024/);
      await refuse(rsaPair(1024).privateKey, /private key/);
      await refuse('hello', /not a PEM key/);
      await refuse('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', /could not be parsed/);
      const pss = generateKeyPairSync('rsa-pss', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      await refuse(pss.publicKey, /rsa-pss/);
      // PKCS#1 "RSA PUBLIC KEY" and a 1024-bit SPKI key are accepted.
      const pkcs1 = createPublicKey(rsaPair(1024).publicKey).export({ type: 'pkcs1', format: 'pem' }) as string;
      assert.match(pkcs1, /BEGIN RSA PUBLIC KEY/);
      const ok = await t.admin('POST', '/admin/v1/partners', { ...base, publicKey: pkcs1 });
      assert.equal(ok.status, 201);
      // Other onboarding fields are validated too.
      const badIp = await t.admin('POST', '/admin/v1/partners', {
        ...base,
        email: 'ip@x.example',
        publicKey: pkcs1,
        ipWhitelist: ['1.2.3.999'],
      });
      assert.deepEqual([badIp.status, badIp.json.error.code], [400, 'INVALID_IP']);
      const noIp = await t.admin('POST', '/admin/v1/partners', {
        ...base,
        email: 'ip@x.example',
        publicKey: pkcs1,
        ipWhitelist: [],
      });
      assert.equal(noIp.json.error.code, 'INVALID_IP');
      const badDomain = await t.admin('POST', '/admin/v1/partners', {
        ...base,
        email: 'd@x.example',
        publicKey: pkcs1,
        redirectDomains: ['https://x.example/path'],
      });
      assert.equal(badDomain.json.error.code, 'INVALID_DOMAIN');
      const noAuth = await fetch(`${t.baseUrl}/admin/v1/partners`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(noAuth.status, 401);
    });

    test('key rotation: both keys verify during the overlap, the old one stops after it; at most two active keys', async () => {
      const p = await onboardPartner(t, { name: 'Rotator' });
      const next = rsaPair();
      const svc = t.app.services.partners;
      const added = await svc.addKey(p.merchantCode, next.publicKey, 3_600_000);
      assert.ok(added.ok);
      const call = (privateKey: string) =>
        p.client.call('check-ip-address', { clientUserIp: '8.8.8.8' }, { privateKey });
      assert.equal((await call(p.keys.privateKey)).json.code, '000000');
      assert.equal((await call(next.privateKey)).json.code, '000000');
      const third = await svc.addKey(p.merchantCode, rsaPair().publicKey);
      assert.deepEqual(third.ok ? null : third.code, 'TOO_MANY_KEYS');
      t.clock.advance!(3_600_001);
      assert.equal((await call(p.keys.privateKey)).json.code, 'OPE100000002');
      assert.equal((await call(next.privateKey)).json.code, '000000');
      // The last active key cannot be revoked.
      const last = await svc.revokeKey(p.merchantCode, added.ok ? added.value.id : '');
      assert.deepEqual(last.ok ? null : last.code, 'LAST_KEY');
    });

    test(
      'order-status webhook: RSA-signed by the platform key, verified independently, acked with returnCode ' +
        'SUCCESS, retried otherwise',
      async () => {
        let fail = true;
        const rx = await startReceiver(() => (fail ? { status: 200, body: '{"returnCode":"FAIL"}' } : ACK));
        try {
          const p = await onboardPartner(t, { name: 'Hooked', webhookUrl: rx.url('/connect-hook') });
          const o = order();
          const created = await p.client.call('buy-withdraw-crypto', o);
          assert.equal(created.json.code, '000000', created.text);
          // EUR fee: the 1.99 USD minimum at 1.08 USD/EUR, rounded up to cents = 1.85.
          // Creation itself is the synchronous answer; no webhook for it.
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(rx.received.length, 0);
          t.clock.advance!(1_800_000);
          await waitFor('first webhook attempt', () => rx.received.length >= 1);
          const first = rx.received[0];
          assert.ok(first);
          assert.equal(first.path, '/connect-hook');
          assert.equal(first.headers['x-bn-connect-for'], p.merchantCode);
          assert.equal(first.headers['content-type'], 'application/json');
          assert.ok(partnerVerifiesWebhook(p.platformPublicKey, first.headers, first.body));
          assert.ok(
            !partnerVerifiesWebhook(
              p.platformPublicKey,
              first.headers,
              Buffer.from(first.body.toString().replace('FAILED', 'COMPLETED')),
            ),
          );
          assert.ok(!partnerVerifiesWebhook(rsaPair().publicKey, first.headers, first.body));
          const body = JSON.parse(first.body.toString());
          assert.equal(body.webhookEventType, 'connect_order_event');
          assert.match(body.eventId, /^ev_[0-9a-f]{32}$/);
          assert.deepEqual(
            [
              body.merchantOrderId,
              body.connectOrderId,
              body.orderMainStatus,
              body.orderSubStatus,
              body.errorCode,
              body.errorReason,
              body.orderAmount,
              body.userFee,
              body.merchantCode,
            ],
            [
              o.merchantOrderId,
              created.json.data.orderId,
              'FAILURE',
              'FAILED',
              'ORDER_EXPIRED',
              'The order expired before payment was confirmed.',
              50,
              1.85,
              p.merchantCode,
            ],
          );
          // query-order-list agrees.
          const q = await p.client.call('query-order-list', { merchantOrderId: o.merchantOrderId });
          assert.deepEqual([q.json.data[0].orderMainStatus, q.json.data[0].errorCode], ['FAILURE', 'ORDER_EXPIRED']);
          // Not acked: retried 15 s later with the same bytes and a fresh signature.
          fail = false;
          t.clock.advance!(15_000);
          await waitFor('retry', () => rx.received.length >= 2);
          assert.deepEqual(rx.received[1]?.body, first.body);
          assert.ok(partnerVerifiesWebhook(p.platformPublicKey, rx.received[1]!.headers, rx.received[1]!.body));
          const deliveries = await t.app.services.webhooks.list({ ownerId: p.merchantCode });
          await waitFor(
            'delivered',
            async () => (await t.app.services.webhooks.list({ ownerId: p.merchantCode }))[0]?.status === 'DELIVERED',
          );
          assert.equal(deliveries.length, 1);
        } finally {
          await rx.close();
        }
      },
    );

    test('state machine: only §5.1 transitions, conditional on the current status, one webhook per change', async () => {
      const rx = await startReceiver();
      try {
        const p = await onboardPartner(t, { name: 'Machine', webhookUrl: rx.url() });
        const created = await p.client.call('buy-withdraw-crypto', order());
        const id = created.json.data.orderId;
        const { connectOrders: orders } = t.app.services;
        const db = t.db;
        const moved = await db.tx((q) => orders.transition(q, id, 'CREATED', 'PAYMENT_PROCESSING'));
        assert.equal(moved?.mainStatus, 'PROCESSING');
        // A second actor still believing the order is CREATED loses.
        assert.equal(await db.tx((q) => orders.transition(q, id, 'CREATED', 'PAYMENT_PROCESSING')), null);
        await assert.rejects(
          db.tx((q) => orders.transition(q, id, 'PAYMENT_PROCESSING', 'COMPLETED')),
          /illegal/,
        );
        await db.tx((q) =>
          orders.transition(q, id, 'PAYMENT_PROCESSING', 'PURCHASE_PROCESSING', {
            executePrice: '0.93',
            obtainAmount: '49.5',
          }),
        );
        await db.tx((q) => orders.transition(q, id, 'PURCHASE_PROCESSING', 'WITHDRAW_PROCESSING'));
        const done = await db.tx((q) =>
          orders.transition(q, id, 'WITHDRAW_PROCESSING', 'COMPLETED', { withdrawTxHash: '0xabc' }),
        );
        assert.deepEqual([done?.mainStatus, done?.withdrawTxHash, done?.executePrice], ['SUCCESS', '0xabc', '0.93']);
        await waitFor('4 webhooks', () => rx.received.length >= 4);
        const statuses = rx.received.map((r) => JSON.parse(r.body.toString()).orderSubStatus);
        assert.deepEqual(statuses, ['PAYMENT_PROCESSING', 'PURCHASE_PROCESSING', 'WITHDRAW_PROCESSING', 'COMPLETED']);
        const last = JSON.parse(rx.received[3]!.body.toString());
        assert.deepEqual([last.executePrice, last.obtainAmount, last.withdrawTxHash], [0.93, 49.5, '0xabc']);
      } finally {
        await rx.close();
      }
    });
  });
}

test('npx rampart partner create reads the openssl public key file and prints the code and platform key', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-cli-connect-'));
  try {
    const keyFile = join(dataDir, 'rsa_pkcs8.pub');
    writeFileSync(keyFile, rsaPair(1024).publicKey);
    const env = {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(await freePort()),
      DATABASE_URL: '',
      LOG_LEVEL: 'silent',
    };
    const r = await run(
      process.execPath,
      [
        'bin/rampart.mjs',
        'partner',
        'create',
        '--name',
        'CLI Wallet',
        '--email',
        'cli@wallet.example',
        '--public-key',
        keyFile,
        '--ip',
        '127.0.0.1',
        '--ip',
        '10.0.0.1',
        '--redirect-domain',
        'wallet.example',
      ],
      { env },
    );
    const json = JSON.parse(r.stdout);
    assert.equal(json.merchantCode, 'cli_wallet_test');
    assert.deepEqual(json.ipWhitelist, ['127.0.0.1', '10.0.0.1']);
    assert.deepEqual(json.redirectDomains, ['wallet.example']);
    assert.match(json.platformPublicKey, /^-----BEGIN PUBLIC KEY-----/);
    const ecFile = join(dataDir, 'ec.pub');
    writeFileSync(
      ecFile,
      generateKeyPairSync('ec', {
        namedCurve: 'prime256v1',
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      }).publicKey,
    );
    const bad = await run(
      process.execPath,
      [
        'bin/rampart.mjs',
        'partner',
        'create',
        '--name',
        'Bad',
        '--email',
        'bad@wallet.example',
        '--public-key',
        ecFile,
        '--ip',
        '127.0.0.1',
      ],
      { env },
    ).catch((e) => e);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /INVALID_PUBLIC_KEY[\s\S]*only RSA/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
