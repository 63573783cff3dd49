import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { kycSignature } from '../src/kyc/auth.ts';
import { createMerchant, startTestApp, v3Order, type TestApp } from './helpers.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * SANDBOX_ALLOW_PRIVATE_TARGETS: a sandbox reachable from elsewhere (HOST not loopback) applies the production
 * SSRF guard to webhooks and KYC document downloads, unless the operator allows private targets explicitly.
 */
test('SANDBOX_ALLOW_PRIVATE_TARGETS defaults to true only when HOST is loopback, and never applies in production', () => {
  const allow = (env: Record<string, string>) => loadConfig(env).allowPrivateTargets;
  assert.equal(allow({}), true, 'default HOST 127.0.0.1');
  for (const HOST of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) assert.equal(allow({ HOST }), true, HOST);
  for (const HOST of ['0.0.0.0', '::', '10.0.0.4', '192.168.1.2', 'sandbox.example'])
    assert.equal(allow({ HOST }), false, HOST);
  assert.equal(allow({ HOST: '0.0.0.0', SANDBOX_ALLOW_PRIVATE_TARGETS: 'true' }), true);
  assert.equal(allow({ HOST: '0.0.0.0', SANDBOX_ALLOW_PRIVATE_TARGETS: '1' }), true);
  assert.equal(allow({ HOST: '127.0.0.1', SANDBOX_ALLOW_PRIVATE_TARGETS: 'false' }), false);
  const production = {
    RAMPART_MODE: 'production',
    ADMIN_TOKEN: randomBytes(24).toString('hex'),
    SECRETS_KEY: randomBytes(32).toString('hex'),
    PUBLIC_URL: 'https://rampart.example',
    PRICE_FEED_URL: 'https://prices.example/api/v3/ticker/price',
    SANDBOX_ALLOW_PRIVATE_TARGETS: 'true',
  };
  assert.equal(allow(production), false);
});

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(512)]);

describe('a sandbox on a public HOST refuses private webhook and KYC image targets', () => {
  let t: TestApp;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  let images: http.Server;
  let imageHits = 0;
  let imageUrl = '';
  before(async () => {
    // The test server still listens on 127.0.0.1; HOST only says where the deployment would be reachable.
    t = await startTestApp({ workers: true, env: { HOST: '0.0.0.0' } });
    rx = await startReceiver();
    images = http.createServer((_req, res) => {
      imageHits++;
      res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    });
    await new Promise<void>((r) => images.listen(0, '127.0.0.1', r));
    imageUrl = `http://127.0.0.1:${(images.address() as AddressInfo).port}/front.png`;
  });
  after(async () => {
    await t.close();
    await rx.close();
    images.closeAllConnections();
    await new Promise((r) => images.close(r));
  });

  test('webhooks to loopback are refused, nothing is sent', async () => {
    assert.equal(t.config.mode, 'sandbox');
    assert.equal(t.config.allowPrivateTargets, false);
    const m = await createMerchant(t, { name: 'Public Sandbox Shop' });
    const c = await m.client.post('/v3/order', v3Order({ webhookUrl: rx.url('/hook') }));
    assert.equal(c.json.status, 'SUCCESS', c.text);
    assert.equal((await m.client.post('/order/close', { prepayId: c.json.data.prepayId })).json.status, 'SUCCESS');
    // An empty list is truthy: wait for the refused delivery itself.
    const [d] = await waitFor(
      'refused delivery',
      async () => {
        const list = (await t.admin('GET', '/admin/v1/webhooks/deliveries?status=FAILED')).json.deliveries as any[];
        return list.length > 0 ? list : null;
      },
      10_000,
      50,
    );
    assert.equal(d.bizId, c.json.data.prepayId);
    assert.match(d.attempts[0].error, /^refused: .* resolves to .*loopback, private or link-local/);
    assert.equal(rx.received.length, 0);
  });

  test('KYC document images on loopback are not downloaded; the share fails with a clear reason', async () => {
    const broker = (
      await t.admin('POST', '/admin/v1/brokers', {
        name: 'Public Broker',
        partialSharing: false,
        ipWhitelist: ['127.0.0.1'],
      })
    ).json;
    assert.ok(broker.bizEntityKey, JSON.stringify(broker));
    const post = async (name: string, body: unknown) => {
      const raw = JSON.stringify(body);
      const res = await fetch(`${t.baseUrl}/bapi/ekyc/v2/public/ekyc/customer/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-SHA2-Signature': kycSignature(broker.secret, raw) },
        body: raw,
      });
      return (await res.json()) as any;
    };
    const requestNo = `R${Date.now()}`;
    const customer = `C${Date.now()}`;
    const share = {
      bizEntityKey: broker.bizEntityKey,
      requestNo,
      kycInfo: {
        userInfo: {
          bizEntityKey: broker.bizEntityKey,
          entityCustomerId: customer,
          brokerMainAccountId: '1234567',
          brokerSubAccountId: String(Date.now()),
          notifyUrl: rx.url('/kyc'),
        },
        basicInfo: {
          firstName: 'Alice',
          lastName: 'Smith',
          country: 'AE',
          residentialCountry: 'AE',
          dob: '1999-09-19',
          userSubmitIp: '192.168.1.1',
          address: 'aaa',
          city: 'bbb',
          postalCode: '123456',
        },
        identityInfo: {
          documentType: 'ID_CARD',
          selectCountry: 'SG',
          frontFileUrl: imageUrl,
          faceFileUrl: imageUrl,
          firstName: 'Alice',
          lastName: 'Smith',
          dob: '1999-09-19',
          idType: 'ID_CARD',
          idCountry: 'AE',
          nationalityCountry: 'AE',
          idNumber: `ID${Date.now()}`,
          idExpiry: '2035-09-19',
          userSubmitIp: '192.168.1.1',
          issuingDate: '2010-09-19',
          gender: 'F',
        },
      },
    };
    const accepted = await post('share-kyc-data', share);
    assert.equal(accepted.code, '000000', JSON.stringify(accepted));
    const outcome = await waitFor(
      'share outcome',
      async () => {
        const r = await post('query-share-data-status', {
          bizEntityKey: broker.bizEntityKey,
          entityCustomerId: customer,
          requestNo,
        });
        return r.data && r.data.status !== 'INIT' && r.data;
      },
      20_000,
      50,
    );
    assert.equal(outcome.status, 'FAIL', JSON.stringify(outcome));
    assert.match(
      outcome.failMessage,
      /^file download failed: frontFileUrl \((address not allowed|.*not a public address|.*non-public address)\)$/,
    );
    assert.equal(imageHits, 0, 'the image server was never called');
  });
});
