import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_FETCH_LIMITS, fetchFile, isPublicAddress } from '../src/kyc/files.ts';
import { kycSignature } from '../src/kyc/auth.ts';
import { DB_KINDS, freePort, startTestApp, type TestApp } from './helpers.ts';
import { ACK, startReceiver, waitFor, type ReceivedRequest } from './support/webhook-receiver.ts';

const BASE = '/bapi/ekyc/v2/public/ekyc/customer';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2048)]);
let seq = 0;
const uniq = (p: string) => `${p}${Date.now()}${++seq}`;

/** Serves document images (and the ways they go wrong) over plain HTTP on 127.0.0.1. */
async function startImageServer() {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const redirect = /^\/r\/(\d+)$/.exec(url);
    if (redirect) {
      const n = Number(redirect[1]);
      res.writeHead(302, { location: n === 0 ? '/front.png' : `/r/${n - 1}` }).end();
    } else if (url === '/front.png' || url === '/face.png' || url === '/back.png') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    } else if (url === '/doc.txt') {
      res.writeHead(200, { 'content-type': 'image/png' }).end('this is not an image');
    } else if (url === '/big.png') {
      // Streamed without a Content-Length, so only the running byte count can stop it.
      res.writeHead(200, { 'content-type': 'image/png' });
      res.write(PNG);
      const chunk = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < 10; i++) res.write(chunk);
      res.end();
    } else if (url === '/hang.png') {
      // never answers
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (p: string) => `http://127.0.0.1:${port}${p}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

interface Broker {
  bizEntityKey: string;
  secret: string;
  sharingMode: string;
}

function kycClient(baseUrl: string) {
  return async function post(
    b: Broker,
    name: string,
    body: unknown,
    opts: { headers?: Record<string, string>; signature?: string | null; secret?: string } = {},
  ) {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const sig = opts.signature === undefined ? kycSignature(opts.secret ?? b.secret, raw) : opts.signature;
    const res = await fetch(`${baseUrl}${BASE}/${name}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(sig === null ? {} : { 'X-SHA2-Signature': sig }),
        ...opts.headers,
      },
      body: raw,
    });
    const text = await res.text();
    return { status: res.status, text, json: JSON.parse(text) };
  };
}

for (const kind of DB_KINDS) {
  describe(`KYC Sharing API (${kind})`, () => {
    let t: TestApp;
    let img: Awaited<ReturnType<typeof startImageServer>>;
    let rx: Awaited<ReturnType<typeof startReceiver>>;
    let post: ReturnType<typeof kycClient>;
    let std: Broker;
    let kz: Broker;
    const forPath = (p: string) => rx.received.filter((r) => r.path === p);
    /** What an accepted share leaves behind (the worker keeps changing other tables in the background). */
    const snapshot = async () =>
      (
        await t.db.query(
          `SELECT (SELECT count(*) FROM kyc_shares)::int AS shares, (SELECT count(*)
            FROM kyc_sub_accounts)::int AS links,
              (SELECT count(*) FROM outbox WHERE topic = 'kyc-share')::int AS queued, (SELECT count(*)
              FROM kyc_brokers)::int AS brokers`,
        )
      ).rows[0];

    const createBroker = async (body: Record<string, unknown>): Promise<Broker> => {
      const r = await t.admin('POST', '/admin/v1/brokers', body);
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json;
    };

    /** A valid standard share for one user (the seed's example with matching names and local image URLs). */
    const share = (
      b: Broker,
      o: {
        customer?: string;
        sub?: string;
        main?: string;
        notifyUrl?: string;
        basic?: Record<string, unknown>;
        identity?: Record<string, unknown>;
        requestNo?: string;
      } = {},
    ) => {
      const customer = o.customer ?? uniq('C');
      return {
        bizEntityKey: b.bizEntityKey,
        requestNo: o.requestNo ?? uniq('R'),
        kycInfo: {
          userInfo: {
            bizEntityKey: b.bizEntityKey,
            entityCustomerId: customer,
            brokerMainAccountId: o.main ?? '1234567',
            brokerSubAccountId: o.sub ?? String(Date.now() * 100 + ++seq),
            notifyUrl: o.notifyUrl ?? rx.url('/ok'),
            extra: 'extraTestData',
          },
          basicInfo: {
            firstName: 'Alice',
            middleName: 'B',
            lastName: 'Smith',
            country: 'AE',
            residentialCountry: 'AE',
            dob: '1999-09-19',
            userSubmitIp: '192.168.1.1',
            address: 'aaa',
            city: 'bbb',
            postalCode: '123456',
            ...o.basic,
          },
          identityInfo: {
            documentType: 'ID_CARD',
            selectCountry: 'SG',
            frontFileUrl: img.url('/front.png'),
            faceFileUrl: img.url('/face.png'),
            firstName: 'Alice',
            lastName: 'Smith',
            dob: '1999-09-19',
            idType: 'ID_CARD',
            idCountry: 'AE',
            nationalityCountry: 'AE',
            idNumber: uniq('ID'),
            idExpiry: '2035-09-19',
            userSubmitIp: '192.168.1.1',
            issuingDate: '2010-09-19',
            gender: 'F',
            ...o.identity,
          },
        },
      };
    };
    const kzShare = (b: Broker, kycInfo: Record<string, unknown>, customer = uniq('KZ')) => ({
      bizEntityKey: b.bizEntityKey,
      requestNo: uniq('KZR'),
      kycInfo: {
        userInfo: {
          bizEntityKey: b.bizEntityKey,
          entityCustomerId: customer,
          brokerMainAccountId: 'MAIN_ACC_001',
          brokerSubAccountId: uniq('SUB_'),
          notifyUrl: '.',
        },
        ...kycInfo,
      },
    });
    const TNC = { userSubmitIp: '192.168.1.1', tncVersion: '1.0', consent: true, signTime: '2024-05-01T08:30:00Z' };
    const QUESTIONNAIRE = {
      version: 'KZ_V6',
      answers: [
        { title: 'KZ_V6_useFor', option: 'KZ_V6_useFor_investmentTrading' },
        { title: 'KZ_V6_sourceOfFunds', option: 'KZ_V6_sourceOfFunds_salary' },
      ],
    };

    const accepted = async (b: Broker, body: unknown) => {
      const r = await post(b, 'share-kyc-data', body);
      assert.equal(r.status, 200);
      assert.deepEqual(
        r.json,
        { code: '000000', message: null, messageDetail: null, data: null, success: true },
        r.text,
      );
    };
    const rejected = async (b: Broker, body: unknown, detail: RegExp, code = '000002') => {
      const r = await post(b, 'share-kyc-data', body);
      assert.equal(r.json.code, code, r.text);
      assert.equal(r.json.success, false);
      assert.equal(r.json.data, null);
      assert.match(r.json.messageDetail, detail);
      return r;
    };
    const shareOutcome = async (b: Broker, body: any) =>
      waitFor('share outcome', async () => {
        const r = await post(b, 'query-share-data-status', {
          bizEntityKey: b.bizEntityKey,
          entityCustomerId: body.kycInfo.userInfo.entityCustomerId,
          requestNo: body.requestNo,
        });
        return r.json.data && r.json.data.status !== 'INIT' && r.json.data;
      });
    const checkStatus = async (b: Broker, body: any) => {
      const u = body.kycInfo.userInfo;
      const r = await post(b, 'check-kyc-status', {
        bizEntityKey: b.bizEntityKey,
        entityCustomerId: u.entityCustomerId,
        kycType: 'USER',
        brokerMainAccountId: u.brokerMainAccountId,
        brokerSubAccountId: u.brokerSubAccountId,
      });
      assert.equal(r.json.code, '000000', r.text);
      return r.json.data;
    };
    const statusBecomes = async (b: Broker, body: any, status: string) => {
      let last: any = null;
      try {
        return await waitFor(`kycStatus ${status}`, async () => {
          last = await checkStatus(b, body);
          return last.statusInfo?.kycStatus === status && last;
        });
      } catch (e) {
        throw new Error(`${(e as Error).message}; last seen ${JSON.stringify(last?.statusInfo ?? last)}`);
      }
    };

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      img = await startImageServer();
      rx = await startReceiver((r, _n) => {
        if (r.path === '/flaky' && forPath('/flaky').length <= 2) return { status: 500, body: 'down' };
        return ACK;
      });
      post = kycClient(t.baseUrl);
      std = await createBroker({ name: 'Standard Broker', partialSharing: false, ipWhitelist: ['127.0.0.1'] });
      kz = await createBroker({ name: 'KZ Broker', partialSharing: true, ipWhitelist: [] });
    });
    after(async () => {
      await t.close();
      await img.close();
      await rx.close();
    });

    test('the published signature test vectors', () => {
      assert.equal(
        kycSignature(
          'kyc-test-secret',
          '{"bizEntityKey":"BROKERKEY","entityCustomerId":"12345678123456767","requestNo":"23454312345365012111113"}',
        ),
        '952781096f75e1bc431209b12b8b584497c27eb26761fd6134ad437db4e1af4c',
      );
      assert.equal(
        kycSignature(
          'kyc-test-secret',
          '{"bizEntityKey": "BROKERKEY", "entityCustomerId": "12345678123456767", "requestNo": ' +
            '"23454312345365012111113"}',
        ),
        'b2cfccadb8e0e7e0473a28763ebfec40f5935f29019f761bcbaea18ad810866d',
      );
    });

    test('the operator creates brokers; the secret is shown once and stored encrypted', async () => {
      assert.match(std.bizEntityKey, /^[A-Z0-9]{20}$/);
      assert.match(std.secret, /^[A-Za-z0-9]{48}$/);
      assert.equal(std.sharingMode, 'STANDARD');
      assert.equal(kz.sharingMode, 'PARTIAL');
      const stored = (
        await t.db.query(`SELECT secret_sealed FROM kyc_brokers WHERE biz_entity_key = $1`, [std.bizEntityKey])
      ).rows[0].secret_sealed;
      assert.ok(!stored.includes(std.secret));
      const list = await t.admin('GET', '/admin/v1/brokers');
      assert.equal(list.status, 200);
      assert.ok(list.json.some((b: any) => b.bizEntityKey === std.bizEntityKey));
      assert.ok(!JSON.stringify(list.json).includes(std.secret));
      const bad = await t.admin('POST', '/admin/v1/brokers', {
        name: 'x',
        partialSharing: false,
        ipWhitelist: ['not-an-ip'],
      });
      assert.equal(bad.status, 400);
      const noAuth = await fetch(`${t.baseUrl}/admin/v1/brokers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":"x"}',
      });
      assert.equal(noAuth.status, 401);
    });

    test(
      'signature: a wrong or missing X-SHA2-Signature is SIGN_MISMATCH and changes nothing; any exact-bytes ' +
        'signature verifies',
      async () => {
        const body = share(std);
        const before = await snapshot();
        const wrong = await post(std, 'share-kyc-data', body, { secret: 'not-the-secret' });
        assert.deepEqual(wrong.json, {
          code: '10040080',
          message: 'SIGN_MISMATCH',
          messageDetail: wrong.json.messageDetail,
          data: null,
          success: false,
        });
        const missing = await post(std, 'share-kyc-data', body, { signature: null });
        assert.equal(missing.json.code, '10040080');
        // A valid signature over other bytes than those sent
        const other = await post(std, 'share-kyc-data', JSON.stringify(body), {
          signature: kycSignature(std.secret, JSON.stringify(body, null, 2)),
        });
        assert.equal(other.json.code, '10040080');
        assert.deepEqual(await snapshot(), before);
        // Pretty-printed bytes, upper-case hex, and the older header name are all accepted.
        const pretty = JSON.stringify(body, null, 2);
        const upper = await post(std, 'share-kyc-data', pretty, {
          signature: kycSignature(std.secret, pretty).toUpperCase(),
        });
        assert.equal(upper.json.code, '000000', upper.text);
        const alias = share(std);
        const raw = JSON.stringify(alias);
        const viaAlias = await post(std, 'share-kyc-data', raw, {
          signature: null,
          headers: { 'X-SHA-Signature': kycSignature(std.secret, raw) },
        });
        assert.equal(viaAlias.json.code, '000000', viaAlias.text);
      },
    );

    test('IP whitelist: a caller outside it gets HTTP 403 with the spec body; other request errors', async () => {
      const fenced = await createBroker({ name: 'Fenced', partialSharing: false, ipWhitelist: ['10.1.2.3'] });
      const before = await snapshot();
      const r = await post(fenced, 'share-kyc-data', share(fenced));
      assert.equal(r.status, 403);
      assert.equal(
        r.text,
        '{"code":"10040005","message":"ILLEGAL_REQUEST","messageDetail":"IP not allowed","data":null,"success":false}',
      );
      assert.deepEqual(await snapshot(), before);
      const unknown = await post({ ...std, bizEntityKey: 'NOSUCHBROKER' }, 'share-kyc-data', {
        ...share(std),
        bizEntityKey: 'NOSUCHBROKER',
      });
      assert.equal(unknown.json.code, '000002');
      const notJson = await post(std, 'share-kyc-data', '[1,2]');
      assert.equal(notJson.json.code, '10040005');
      const get = await fetch(`${t.baseUrl}${BASE}/check-kyc-status`);
      assert.equal((await get.json()).code, '10040005');
      const outOfScope = await fetch(`${t.baseUrl}${BASE}/initial`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(outOfScope.status, 404);
      const off = await createBroker({ name: 'Off', partialSharing: false, ipWhitelist: [] });
      assert.equal((await t.admin('PATCH', `/admin/v1/brokers/${off.bizEntityKey}`, { enabled: false })).status, 200);
      assert.equal((await post(off, 'share-kyc-data', share(off))).json.code, '10115001');
    });

    test('standard brokers: basicInfo and identityInfo are both required; every field rule passes and fails', async (c) => {
      const s = (o: Parameters<typeof share>[1] = {}) => share(std, o);
      const drop = (section: 'basicInfo' | 'identityInfo') => {
        const b: any = s();
        delete b.kycInfo[section];
        return b;
      };
      await rejected(std, drop('basicInfo'), /^kycInfo\.basicInfo: is required$/);
      await rejected(std, drop('identityInfo'), /^kycInfo\.identityInfo: is required$/);
      // tncInfo / questionnaireInfo from a standard broker are ignored (a bad one does not fail the request)
      const withTnc: any = s();
      withTnc.kycInfo.tncInfo = { tncVersion: 'bad' };
      await accepted(std, withTnc);

      const cases: [string, Parameters<typeof share>[1], Parameters<typeof share>[1], RegExp][] = [
        [
          'residentialCountry upper-case alpha-2',
          { basic: { residentialCountry: 'KZ' } },
          { basic: { residentialCountry: 'ae' } },
          /^kycInfo\.basicInfo\.residentialCountry: must be an ISO 3166-1 alpha-2/,
        ],
        [
          'country assigned code',
          { basic: { country: 'SG' } },
          { basic: { country: 'XX' } },
          /^kycInfo\.basicInfo\.country: must be an ISO/,
        ],
        [
          'idCountry alpha-2 not alpha-3',
          { identity: { idCountry: 'DE' } },
          { identity: { idCountry: 'ARE' } },
          /identityInfo\.idCountry: must be an ISO/,
        ],
        [
          'selectCountry',
          { identity: { selectCountry: 'FR' } },
          { identity: { selectCountry: 'fr' } },
          /identityInfo\.selectCountry/,
        ],
        [
          'nationalityCountry',
          { identity: { nationalityCountry: 'US' } },
          { identity: { nationalityCountry: 'U1' } },
          /identityInfo\.nationalityCountry/,
        ],
        [
          'dob a real date',
          { basic: { dob: '2000-02-29' }, identity: { dob: '2000-02-29' } },
          { basic: { dob: '1999-02-29' } },
          /^kycInfo\.basicInfo\.dob: must be yyyy-MM-dd$/,
        ],
        [
          'dob format',
          { basic: { dob: '1990-12-31' } },
          { basic: { dob: '19/09/1999' } },
          /basicInfo\.dob: must be yyyy-MM-dd/,
        ],
        [
          'dob in the past',
          { basic: { dob: '2001-01-01' } },
          { basic: { dob: '2999-01-01' } },
          /basicInfo\.dob: must be in the past/,
        ],
        [
          'idExpiry a real date',
          { identity: { idExpiry: '2032-12-31' } },
          { identity: { idExpiry: '2032-13-01' } },
          /identityInfo\.idExpiry: must be yyyy-MM-dd/,
        ],
        [
          'issuingDate a real date',
          { identity: { issuingDate: '2012-04-30' } },
          { identity: { issuingDate: '2012-04-31' } },
          /identityInfo\.issuingDate: must be yyyy-MM-dd/,
        ],
        [
          'documentType enum',
          { identity: { documentType: 'PASSPORT', idType: 'PASSPORT' } },
          { identity: { documentType: 'VISA' } },
          /identityInfo\.documentType: must be one of ID_CARD, PASSPORT, DRIVING_LICENSE, RESIDENCE_PERMIT/,
        ],
        [
          'idType enum',
          { identity: { documentType: 'RESIDENCE_PERMIT', idType: 'DRIVING_LICENSE' } },
          { identity: { idType: 'id_card' } },
          /identityInfo\.idType: must be one of/,
        ],
        [
          'address max 400',
          { basic: { address: 'a'.repeat(400) } },
          { basic: { address: 'a'.repeat(401) } },
          /basicInfo\.address: must be at most 400 characters/,
        ],
        [
          'city max 100',
          { basic: { city: 'c'.repeat(100) } },
          { basic: { city: 'c'.repeat(101) } },
          /basicInfo\.city: must be at most 100/,
        ],
        [
          'postalCode max 50 (optional)',
          { basic: { postalCode: null } },
          { basic: { postalCode: '1'.repeat(51) } },
          /basicInfo\.postalCode: must be at most 50/,
        ],
        [
          'firstName required',
          { basic: { middleName: null } },
          { basic: { firstName: '' } },
          /^kycInfo\.basicInfo\.firstName: is required$/,
        ],
        [
          'firstName 1-128',
          { basic: { firstName: 'F'.repeat(128) }, identity: { firstName: 'F'.repeat(128) } },
          { basic: { firstName: 'F'.repeat(129) } },
          /basicInfo\.firstName: must be at most 128/,
        ],
        ['strings only', { basic: { city: '12' } }, { basic: { city: 12 } }, /basicInfo\.city: must be a string/],
        [
          'userSubmitIp an IP',
          { basic: { userSubmitIp: '2001:db8::1' } },
          { basic: { userSubmitIp: '300.1.1.1' } },
          /basicInfo\.userSubmitIp: must be an IPv4 or IPv6 address/,
        ],
        [
          'idNumber 1-64',
          { identity: { idNumber: uniq('N').padEnd(64, '0') } },
          { identity: { idNumber: 'N'.repeat(65) } },
          /identityInfo\.idNumber: must be at most 64/,
        ],
        [
          'frontFileUrl required',
          { identity: { backFileUrl: img.url('/back.png') } },
          { identity: { frontFileUrl: null } },
          /identityInfo\.frontFileUrl: is required/,
        ],
        [
          'faceFileUrl a URL',
          { identity: { faceFileUrl: img.url('/face.png') } },
          { identity: { faceFileUrl: 'ftp://x/y.png' } },
          /identityInfo\.faceFileUrl: must be an http\(s\):\/\/ URL/,
        ],
        [
          'optional identity fields max 256',
          { identity: { issuingAuthority: 'x'.repeat(256) } },
          { identity: { issuingAuthority: 'x'.repeat(257) } },
          /identityInfo\.issuingAuthority: must be at most 256/,
        ],
        [
          'notifyUrl http(s) or "."',
          { notifyUrl: '.' },
          { notifyUrl: 'mailto:x@y' },
          /userInfo\.notifyUrl: must be an http\(s\):\/\/ URL or "\."/,
        ],
        [
          'entityCustomerId charset',
          { customer: 'a+b-c_d@e' },
          { customer: 'a#b' },
          /userInfo\.entityCustomerId: must match/,
        ],
        [
          'entityCustomerId max 128',
          { customer: 'c'.repeat(128) },
          { customer: 'c'.repeat(129) },
          /userInfo\.entityCustomerId: must be at most 128/,
        ],
        [
          'broker account ids digits',
          { main: '987654321' },
          { main: 'MAIN_ACC_001' },
          /userInfo\.brokerMainAccountId: must be 1-32 digits/,
        ],
        [
          'requestNo max 120',
          { requestNo: uniq('R').padEnd(120, '9') },
          { requestNo: 'R'.repeat(121) },
          /^requestNo: must be at most 120 characters$/,
        ],
      ];
      for (const [name, good, bad, detail] of cases) {
        await c.test(name, async () => {
          await accepted(std, s(good));
          await rejected(std, s(bad), detail);
        });
      }
      const mismatched: any = s();
      mismatched.kycInfo.userInfo.bizEntityKey = kz.bizEntityKey;
      await rejected(std, mismatched, /userInfo\.bizEntityKey: must equal bizEntityKey/);
      // kycInfo may also be a string holding the object's JSON (its published type is STRING)
      const asString: any = s();
      asString.kycInfo = JSON.stringify(asString.kycInfo);
      await accepted(std, asString);
      const badString: any = s();
      badString.kycInfo = '{not json';
      await rejected(std, badString, /^kycInfo: must be a JSON object$/);
    });

    test(
      "identityInfo's names must equal basicInfo's: the seed's own example is accepted, then FAILs and changes " +
        'no record',
      async () => {
        // The published request example, as is, but for our broker key: its basicInfo names (AA BB) differ from
        // identityInfo's.
        const seed = {
          bizEntityKey: std.bizEntityKey,
          kycInfo: {
            userInfo: {
              brokerMainAccountId: '1234567',
              brokerSubAccountId: '12345678123456767',
              bizEntityKey: std.bizEntityKey,
              entityCustomerId: '12345678123456767',
              extra: 'extraTestData',
              notifyUrl: 'https://webhook.site/',
            },
            identityInfo: {
              lastName: 'testLastNameLItest01',
              frontFileUrl:
                'https://image.cnbcfm.com/api/v1/image/104853635-GettyImages-870113330.jpg?v=1709055832&w=740&h=416&' +
                'ffmt=webp&vtcrop=y',
              gender: 'M',
              documentType: 'ID_CARD',
              idUsState: 'testIdUsState',
              issuingDate: '2010-09-19',
              city: 'testCity',
              postalCode: '123456',
              selectCountry: 'SG',
              idNumber: 'testSaasBrokers0144288491',
              userSubmitIp: '192.168.1.1',
              issuingPlace: 'AE',
              backFileUrl:
                'https://cdn.shortpixel.ai/spai/q_lossless+w_1776+to_webp+ret_img/independent-photo.com/wp-content/' +
                'uploads/2022/03/Karen-Pape-1800x1200.jpeg',
              idSubType: 'INTERNATIONAL_PASSPORT',
              idType: 'ID_CARD',
              address: 'testAddressData',
              personalNumber: 'personalNumber6462313972',
              idCountry: 'AE',
              firstName: 'testFirstName',
              issuingAuthority: 'firstName',
              faceFileUrl:
                'https://cdn.shortpixel.ai/spai/q_lossless+w_1776+to_webp+ret_img/independent-photo.com/wp-content/' +
                'uploads/2022/03/Karen-Pape-1800x1200.jpeg',
              dob: '1999-09-19',
              idExpiry: '2030-09-19',
              registrationNumber: 'registrationNumber4039460415',
              middleName: 'testMiddleNameboli',
              stateCode: 'QWER',
              nationalityCountry: 'AE',
            },
            basicInfo: {
              firstName: 'AA',
              lastName: 'BB',
              country: 'AE',
              residentialCountry: 'AE',
              dob: '1999-09-19',
              middleName: 'testMiddleName',
              userSubmitIp: '192.168.1.1',
              address: 'aaa',
              city: 'bbb',
              postalCode: '123456',
            },
          },
          requestNo: '23454312345365012111113',
        };
        await accepted(std, seed);
        const outcome = await shareOutcome(std, seed);
        assert.deepEqual(outcome, {
          bizEntityKey: std.bizEntityKey,
          entityCustomerId: '12345678123456767',
          requestNo: '23454312345365012111113',
          status: 'FAIL',
          failMessage: 'identityInfo.firstName does not match basicInfo.firstName',
        });
        assert.deepEqual(await checkStatus(std, seed), { statusInfo: null, levelInfo: null, nonExisted: true });
        const lastOnly = share(std, { identity: { lastName: 'Smyth' } });
        await accepted(std, lastOnly);
        assert.equal(
          (await shareOutcome(std, lastOnly)).failMessage,
          'identityInfo.lastName does not match basicInfo.lastName',
        );
        // Compared after trimming, collapsing whitespace, NFKC and case folding
        const folded = share(std, {
          basic: { firstName: 'Mary  Ann', lastName: 'SMITH' },
          identity: { firstName: ' mary ann ', lastName: 'Smith' },
        });
        await accepted(std, folded);
        assert.equal((await shareOutcome(std, folded)).status, 'SUCCESS');
      },
    );

    test(
      'requestNo: the same body again returns the first result, another body is DUPLICATE_REQUEST, a rejected ' +
        'request consumes nothing',
      async () => {
        const body = share(std);
        await accepted(std, body);
        const count = async () =>
          Number(
            (await t.db.query(`SELECT count(*) AS n FROM kyc_shares WHERE request_no = $1`, [body.requestNo])).rows[0]
              .n,
          );
        await accepted(std, body);
        assert.equal(await count(), 1);
        const changed = {
          ...body,
          kycInfo: { ...body.kycInfo, basicInfo: { ...body.kycInfo.basicInfo, city: 'Other' } },
        };
        const before = await snapshot();
        const dup = await post(std, 'share-kyc-data', changed);
        assert.equal(dup.json.code, '10040008', dup.text);
        assert.equal(dup.json.message, 'DUPLICATE_REQUEST');
        // Same content, other bytes (spacing) is another body too.
        assert.equal((await post(std, 'share-kyc-data', JSON.stringify(body, null, 1))).json.code, '10040008');
        assert.deepEqual(await snapshot(), before);
        const fixMe = share(std, { basic: { country: 'ae' } });
        await rejected(std, fixMe, /country/);
        await accepted(std, {
          ...fixMe,
          kycInfo: { ...fixMe.kycInfo, basicInfo: { ...fixMe.kycInfo.basicInfo, country: 'AE' } },
        });
      },
    );

    test('account linking rules', async () => {
      const first = share(std, { sub: '555000111', customer: uniq('L') });
      await accepted(std, first);
      await rejected(
        std,
        share(std, { sub: '555000111', customer: uniq('L') }),
        /linked to another entityCustomerId/,
        '10040082',
      );
      await rejected(
        std,
        share(std, { sub: '555000111', customer: first.kycInfo.userInfo.entityCustomerId, main: '7654321' }),
        /linked under another main account/,
        '10040104',
      );
      const limited = await createBroker({
        name: 'Limited',
        partialSharing: false,
        ipWhitelist: [],
        maxSubAccountsPerUser: 1,
        mainAccountIds: ['111'],
      });
      await rejected(limited, share(limited, { main: '222' }), /brokerMainAccountId: not a main account/, '10040102');
      const customer = uniq('L');
      await accepted(limited, share(limited, { main: '111', sub: '1', customer }));
      await rejected(
        limited,
        share(limited, { main: '111', sub: '2', customer }),
        /already has 1 sub accounts/,
        '10040101',
      );
    });

    test('partial-sharing (KZ) brokers: any one section, tnc and questionnaire rules against the KZ_V6 template', async (c) => {
      // The published KZ example (tncInfo and questionnaireInfo only)
      const example = kzShare(kz, { tncInfo: TNC, questionnaireInfo: QUESTIONNAIRE }, 'CUST_KZ_001');
      await accepted(kz, example);
      assert.equal((await shareOutcome(kz, example)).status, 'SUCCESS');
      await rejected(
        kz,
        kzShare(kz, {}),
        /^kycInfo: at least one of basicInfo, identityInfo, tncInfo, questionnaireInfo is required$/,
      );
      await rejected(kz, kzShare(kz, { basicInfo: null, tncInfo: null }), /at least one of/);
      const base = share(std);
      await accepted(kz, kzShare(kz, { basicInfo: base.kycInfo.basicInfo }));
      await accepted(kz, kzShare(kz, { identityInfo: base.kycInfo.identityInfo }));
      // The standard broker's rule (both required) does not apply to KZ, but its field rules do
      await rejected(
        kz,
        kzShare(kz, { basicInfo: { ...base.kycInfo.basicInfo, dob: '1999-9-19' } }),
        /basicInfo\.dob: must be yyyy-MM-dd/,
      );

      const tnc = (o: Record<string, unknown>) => kzShare(kz, { tncInfo: { ...TNC, ...o } });
      const tncCases: [string, Record<string, unknown>, Record<string, unknown>, RegExp][] = [
        [
          'tncVersion a.b',
          { tncVersion: '10.12' },
          { tncVersion: '1' },
          /tncInfo\.tncVersion: must match \^\\d\+\\\.\\d\+\$/,
        ],
        ['tncVersion digits only', { tncVersion: '2.0' }, { tncVersion: '1.0a' }, /tncInfo\.tncVersion/],
        [
          'signTime ISO-8601 with zone',
          { signTime: '2024-01-01T12:00:00.123+05:30' },
          { signTime: '2024-01-01 12:00:00' },
          /tncInfo\.signTime: must be an ISO-8601/,
        ],
        [
          'signTime needs a zone',
          { signTime: '2024-01-01T12:00:00Z' },
          { signTime: '2024-01-01T12:00:00' },
          /tncInfo\.signTime: must be an ISO-8601/,
        ],
        [
          'signTime a real date',
          { signTime: '2024-02-29T00:00:00Z' },
          { signTime: '2023-02-29T00:00:00Z' },
          /tncInfo\.signTime: must be an ISO-8601/,
        ],
        [
          'signTime not in the future',
          { signTime: new Date(t.clock.now() - 60_000).toISOString() },
          { signTime: new Date(t.clock.now() + 3_600_000).toISOString() },
          /tncInfo\.signTime: must not be in the future/,
        ],
        ['consent not null', { consent: false }, { consent: null }, /^kycInfo\.tncInfo\.consent: must not be null$/],
        ['consent a boolean', { consent: true }, { consent: 'true' }, /tncInfo\.consent: must be a boolean/],
        [
          'userSubmitIp required',
          { userSubmitIp: '::1' },
          { userSubmitIp: undefined },
          /tncInfo\.userSubmitIp: is required/,
        ],
      ];
      for (const [name, good, bad, detail] of tncCases) {
        await c.test(name, async () => {
          await accepted(kz, tnc(good));
          await rejected(kz, tnc(bad), detail);
        });
      }

      const q = (answers: unknown, version = 'KZ_V6') => kzShare(kz, { questionnaireInfo: { version, answers } });
      const [useFor, funds] = QUESTIONNAIRE.answers;
      assert.ok(useFor && funds);
      const qCases: [string, unknown, unknown, RegExp][] = [
        [
          'every question answered',
          [funds, useFor],
          [useFor],
          /^questionnaireInfo\.answers: missing KZ_V6_sourceOfFunds$/,
        ],
        [
          'a valid option',
          [useFor, { title: funds.title, option: 'KZ_V6_sourceOfFunds_businessIncome' }],
          [useFor, { title: funds.title, option: 'KZ_V6_useFor_payments' }],
          /answers\[1\]\.option: KZ_V6_useFor_payments is not an option of KZ_V6_sourceOfFunds/,
        ],
        [
          'each question once',
          [useFor, funds],
          [useFor, funds, useFor],
          /answers\[2\]\.title: duplicate answer to KZ_V6_useFor/,
        ],
        [
          'known titles only',
          [useFor, funds],
          [useFor, funds, { title: 'KZ_V6_income', option: 'x' }],
          /answers\[2\]\.title: unknown question KZ_V6_income/,
        ],
        ['not empty', [useFor, funds], [], /questionnaireInfo\.answers: must be a non-empty list/],
        ['option required', [useFor, funds], [useFor, { title: funds.title }], /answers\[1\]\.option: is required/],
      ];
      for (const [name, good, bad, detail] of qCases) {
        await c.test(name, async () => {
          await accepted(kz, q(good));
          await rejected(kz, q(bad), detail);
        });
      }
      await rejected(
        kz,
        q([useFor, funds], 'KZ_V5'),
        /questionnaireInfo\.version: KZ_V5 is not a questionnaire version configured for this broker/,
      );
      // partial brokers may use the KZ-style account ids; standard ones may not (see the standard cases)
      await rejected(
        kz,
        {
          ...example,
          requestNo: uniq('K'),
          kycInfo: { ...example.kycInfo, userInfo: { ...example.kycInfo.userInfo, brokerSubAccountId: 'SUB ACC' } },
        },
        /brokerSubAccountId: must be 1-64 letters/,
      );
    });

    test('query-share-data-status and check-kyc-status requests', async () => {
      const unknown = await post(std, 'query-share-data-status', {
        bizEntityKey: std.bizEntityKey,
        entityCustomerId: 'nobody',
        requestNo: 'nothing',
      });
      assert.deepEqual(unknown.json, { code: '000000', message: null, messageDetail: null, data: null, success: true });
      const body = share(std);
      await accepted(std, body);
      const otherUser = await post(std, 'query-share-data-status', {
        bizEntityKey: std.bizEntityKey,
        entityCustomerId: 'someone-else',
        requestNo: body.requestNo,
      });
      assert.equal(otherUser.json.data, null);
      const missing = await post(std, 'query-share-data-status', {
        bizEntityKey: std.bizEntityKey,
        requestNo: body.requestNo,
      });
      assert.equal(missing.json.code, '000002');
      assert.equal(missing.json.messageDetail, 'entityCustomerId: is required');
      const u = body.kycInfo.userInfo;
      const badType = await post(std, 'check-kyc-status', {
        bizEntityKey: std.bizEntityKey,
        entityCustomerId: u.entityCustomerId,
        kycType: 'COMPANY',
        brokerMainAccountId: u.brokerMainAccountId,
        brokerSubAccountId: u.brokerSubAccountId,
      });
      assert.equal(badType.json.code, '000002');
      await statusBecomes(std, body, 'REVIEW');
      const otherSub = await post(std, 'check-kyc-status', {
        bizEntityKey: std.bizEntityKey,
        entityCustomerId: u.entityCustomerId,
        kycType: 'USER',
        brokerMainAccountId: u.brokerMainAccountId,
        brokerSubAccountId: '999',
      });
      assert.deepEqual(otherSub.json.data, { statusInfo: null, levelInfo: null, nonExisted: true });
    });

    test(
      'accepted data is reviewed: images fetched and stored encrypted, REVIEW queue, operator PASS, ' +
        'sandbox REJECT',
      async () => {
        const body = share(std, { identity: { backFileUrl: img.url('/r/2') } });
        await accepted(std, body);
        assert.deepEqual((await shareOutcome(std, body)).failMessage, null);
        const d = await statusBecomes(std, body, 'REVIEW');
        const si = d.statusInfo;
        assert.equal(d.nonExisted, false);
        assert.equal(si.bizEntityKey, std.bizEntityKey);
        assert.equal(si.entityCustomerId, body.kycInfo.userInfo.entityCustomerId);
        assert.match(si.kycUserId, /^\d{18,19}$/);
        assert.deepEqual(
          [si.userType, si.kycType, si.businessType, si.status],
          ['USER', 'USER', 'KYC_SHARING', 'REVIEW'],
        );
        assert.deepEqual(
          [si.basicStatus, si.identityStatus, si.documentStatus, si.faceStatus, si.wckStatus],
          ['PASS', 'REVIEW', 'REVIEW', 'REVIEW', 'REVIEW'],
        );
        assert.equal(typeof si.expectTime, 'number');
        assert.match(si.expectTimeText, /^\d{4}-\d{2}-\d{2} \(UTC\)$/);
        assert.deepEqual(d.levelInfo, {
          currentLevel: { levelName: 'INTERMEDIATE', kycStatus: 'REVIEW' },
          passedLevel: null,
          kycPass: false,
        });

        const queue = await t.admin('GET', '/admin/v1/kyc?status=REVIEW');
        assert.equal(queue.status, 200);
        const entry = queue.json.find((x: any) => x.id === si.kycUserId);
        assert.equal(entry.source, 'broker');
        const rec = await t.admin('GET', `/admin/v1/kyc/${si.kycUserId}`);
        assert.equal(rec.json.basicInfo.firstName, 'Alice');
        assert.equal(rec.json.identityInfo.idNumber, body.kycInfo.identityInfo.idNumber);
        assert.deepEqual(rec.json.files.map((f: any) => f.field).sort(), [
          'backFileUrl',
          'faceFileUrl',
          'frontFileUrl',
        ]);
        const file = await fetch(`${t.baseUrl}/admin/v1/kyc/${si.kycUserId}/files/${rec.json.files[0].id}`, {
          headers: { authorization: `Bearer ${t.adminToken}` },
        });
        assert.equal(file.headers.get('content-type'), 'image/png');
        assert.deepEqual(Buffer.from(await file.arrayBuffer()), PNG);
        // Nothing readable at rest: names, ID number and image bytes appear in no stored row.
        const dump = (
          await t.db.query(
            `SELECT (SELECT string_agg(row_to_json(r)::text, '')
            FROM kyc_records r) || (SELECT string_agg(row_to_json(s)::text, '')
            FROM kyc_shares s) || (SELECT string_agg(row_to_json(f)::text, '') FROM kyc_files f) AS dump`,
          )
        ).rows[0].dump as string;
        for (const secret of [
          body.kycInfo.identityInfo.idNumber,
          'Alice',
          'Smith',
          PNG.subarray(8, 40).toString('base64'),
          PNG.subarray(8, 40).toString('hex'),
        ])
          assert.ok(!dump.includes(secret), secret);

        const pass = await t.admin('POST', `/admin/v1/kyc/${si.kycUserId}/decision`, { decision: 'PASS' });
        assert.equal(pass.status, 200, JSON.stringify(pass.json));
        const passed = await checkStatus(std, body);
        assert.deepEqual(
          [
            passed.statusInfo.kycStatus,
            passed.statusInfo.identityStatus,
            passed.statusInfo.faceStatus,
            passed.statusInfo.wckStatus,
          ],
          ['PASS', 'PASS', 'PASS', 'PASS'],
        );
        assert.equal(passed.statusInfo.expectTime, null);
        assert.equal(typeof passed.statusInfo.identityCompleteTime, 'number');
        assert.deepEqual(passed.levelInfo, {
          currentLevel: { levelName: 'INTERMEDIATE', kycStatus: 'PASS' },
          passedLevel: { levelName: 'INTERMEDIATE', kycStatus: 'PASS' },
          kycPass: true,
        });
        const again = await t.admin('POST', `/admin/v1/kyc/${si.kycUserId}/decision`, { decision: 'REJECT' });
        assert.equal(again.status, 409);
        assert.equal(again.json.error.code, 'KYC_NOT_IN_REVIEW');
        // PASS is sticky: a later share is stored but does not reopen the record
        const later = { ...body, requestNo: uniq('R') };
        await accepted(std, later);
        assert.equal((await shareOutcome(std, later)).status, 'SUCCESS');
        assert.equal((await checkStatus(std, body)).statusInfo.kycStatus, 'PASS');

        const other = share(std);
        await accepted(std, other);
        const o = await statusBecomes(std, other, 'REVIEW');
        const rej = await t.admin('POST', `/sandbox/v1/kyc/${o.statusInfo.kycUserId}/decision`, {
          decision: 'REJECT',
          reason: 'Blurry document',
        });
        assert.equal(rej.status, 200, JSON.stringify(rej.json));
        const r = (await checkStatus(std, other)).statusInfo;
        assert.deepEqual(
          [r.kycStatus, r.failReason, r.identityStatus, r.identityFailReason],
          ['REJECT', 'Blurry document', 'REJECT', 'Blurry document'],
        );
        assert.equal((await t.admin('POST', '/sandbox/v1/kyc/123/decision', { decision: 'PASS' })).status, 404);
      },
    );

    test('automated checks reject expired documents, re-used ID numbers and minors', async () => {
      const expired = share(std, { identity: { idExpiry: '2020-01-01' } });
      await accepted(std, expired);
      assert.equal((await shareOutcome(std, expired)).failMessage, null);
      assert.equal((await statusBecomes(std, expired, 'REJECT')).statusInfo.failReason, 'Document expired');
      const idNumber = uniq('DUP');
      const firstUser = share(std, { identity: { idNumber } });
      await accepted(std, firstUser);
      await statusBecomes(std, firstUser, 'REVIEW');
      const secondUser = share(std, { identity: { idNumber } });
      await accepted(std, secondUser);
      const dup = await statusBecomes(std, secondUser, 'REJECT');
      assert.equal(dup.statusInfo.identityFailReason, 'This ID number has been used by another account');
      assert.equal(dup.statusInfo.faceStatus, 'REJECT');
      const dob = new Date(t.clock.now() - 10 * 365 * 86_400_000).toISOString().slice(0, 10);
      const minor = share(std, { basic: { dob }, identity: { dob } });
      await accepted(std, minor);
      const m = await statusBecomes(std, minor, 'REJECT');
      assert.equal(m.statusInfo.basicFailReason, 'Under age');
    });

    test(
      'document images: unreachable, not an image, too large, too many redirects each FAIL the share with a ' +
        'clear reason',
      async (c) => {
        const closed = await freePort();
        const cases: [string, Record<string, unknown>, string | RegExp][] = [
          [
            'unreachable',
            { faceFileUrl: `http://127.0.0.1:${closed}/face.png` },
            /^file download failed: faceFileUrl \(ECONNREFUSED\)$/,
          ],
          ['HTTP 404', { backFileUrl: img.url('/missing.png') }, 'file download failed: backFileUrl (HTTP 404)'],
          ['not an image', { frontFileUrl: img.url('/doc.txt') }, 'file is not a JPEG, PNG or PDF: frontFileUrl'],
          ['over 10 MB', { frontFileUrl: img.url('/big.png') }, '10040106 FILE_TOO_LARGE: frontFileUrl'],
          [
            'four redirects',
            { frontFileUrl: img.url('/r/3') },
            'file download failed: frontFileUrl (too many redirects)',
          ],
        ];
        for (const [name, identity, reason] of cases) {
          await c.test(name, async () => {
            const body = share(std, { identity });
            await accepted(std, body);
            const out = await shareOutcome(std, body);
            assert.equal(out.status, 'FAIL');
            if (typeof reason === 'string') assert.equal(out.failMessage, reason);
            else assert.match(out.failMessage, reason);
            // A FAIL share changes nothing in the KYC record (here: none was created)
            assert.equal((await checkStatus(std, body)).nonExisted, true);
          });
        }
      },
    );

    test(
      'USER-STATUS notifications: retried at +3 and +5 minutes on the platform clock, delivered at the third try; ' +
        'none for "."',
      async () => {
        const advance = async (ms: number) =>
          assert.equal((await t.admin('POST', '/sandbox/v1/clock/advance', { ms })).status, 200);
        const body = share(std, { notifyUrl: rx.url('/flaky') });
        await accepted(std, body);
        await waitFor('first attempt', () => forPath('/flaky').length === 1);
        await sleep(400);
        assert.equal(forPath('/flaky').length, 1, 'no retry before the clock reaches +3 min');
        await advance(3 * 60_000 - 1_000);
        await sleep(400);
        assert.equal(forPath('/flaky').length, 1);
        await advance(1_000);
        await waitFor('second attempt', () => forPath('/flaky').length === 2);
        await advance(5 * 60_000 - 1_000);
        await sleep(400);
        assert.equal(forPath('/flaky').length, 2, 'no third attempt before +5 min');
        await advance(1_000);
        // Third attempt acknowledged; the next event of the record (REVIEW) was held behind it and follows at once.
        const got = await waitFor(
          'third attempt and the next event',
          () => forPath('/flaky').length >= 4 && forPath('/flaky'),
        );
        const bodies = got.map((r: ReceivedRequest) => r.body.toString('utf8'));
        assert.equal(bodies[0], bodies[1]);
        assert.equal(bodies[1], bodies[2]);
        const first = JSON.parse(bodies[0]!);
        assert.deepEqual(Object.keys(first), ['bizEntityKey', 'entityCustomerId', 'kycType', 'eventType', 'eventVo']);
        assert.deepEqual(
          [first.bizEntityKey, first.entityCustomerId, first.kycType, first.eventType],
          [std.bizEntityKey, body.kycInfo.userInfo.entityCustomerId, 'USER', 'USER-STATUS'],
        );
        assert.equal(first.eventVo.statusInfo.kycStatus, 'PROCESS');
        assert.equal(JSON.parse(bodies[3]!).eventVo.statusInfo.kycStatus, 'REVIEW');
        assert.equal(JSON.parse(bodies[3]!).eventVo.levelInfo.currentLevel.kycStatus, 'REVIEW');
        for (const r of got) assert.equal(r.headers['x-sha2-signature'], kycSignature(std.secret, r.body));
        const deliveries = await t.admin('GET', '/admin/v1/webhooks/deliveries');
        const first3 = (deliveries.json.deliveries as any[]).find((x) => x.body === bodies[0]);
        assert.equal(first3.status, 'DELIVERED');
        assert.equal(first3.family, 'kyc');
        assert.deepEqual(
          first3.attempts.map((a: any) => a.httpStatus),
          [500, 500, 200],
        );
        assert.deepEqual(
          [
            first3.attempts[1].attemptedAt - first3.attempts[0].attemptedAt,
            first3.attempts[2].attemptedAt - first3.attempts[1].attemptedAt,
          ],
          [3 * 60_000, 5 * 60_000],
        );

        // A decision is a change too
        const id = first.eventVo.statusInfo.kycUserId;
        await t.admin('POST', `/admin/v1/kyc/${id}/decision`, { decision: 'PASS' });
        const passEvent = await waitFor('PASS event', () =>
          forPath('/flaky').find((r) => JSON.parse(r.body.toString()).eventVo.statusInfo.kycStatus === 'PASS'),
        );
        assert.equal(JSON.parse(passEvent.body.toString()).eventVo.levelInfo.kycPass, true);

        const silent = share(std, { notifyUrl: '.' });
        await accepted(std, silent);
        const s = await statusBecomes(std, silent, 'REVIEW');
        const rows = await t.db.query(
          `SELECT count(*) AS n FROM outbox WHERE topic = 'webhook' AND payload->>'bizId' = $1`,
          [s.statusInfo.kycUserId],
        );
        assert.equal(Number(rows.rows[0].n), 0);
      },
    );

    test('KZ broker: PASS needs T&C consent and a complete questionnaire besides the checks', async () => {
      const customer = uniq('KZP');
      const base = share(std);
      const data = kzShare(
        kz,
        { basicInfo: base.kycInfo.basicInfo, identityInfo: base.kycInfo.identityInfo },
        customer,
      );
      await accepted(kz, data);
      const d = await statusBecomes(kz, data, 'REVIEW');
      await t.admin('POST', `/admin/v1/kyc/${d.statusInfo.kycUserId}/decision`, { decision: 'PASS' });
      const waiting = (await checkStatus(kz, data)).statusInfo;
      assert.deepEqual(
        [waiting.basicStatus, waiting.identityStatus, waiting.wckStatus, waiting.kycStatus],
        ['PASS', 'PASS', 'PASS', 'INITIAL'],
      );
      const rest = kzShare(kz, { tncInfo: TNC, questionnaireInfo: QUESTIONNAIRE }, customer);
      rest.kycInfo.userInfo = data.kycInfo.userInfo;
      await accepted(kz, rest);
      await statusBecomes(kz, data, 'PASS');
    });

    test("facilitated KYC link: a passed shared user is found through the broker's Connect partner code", async () => {
      const linked = await createBroker({ name: 'Exchange with Connect', partialSharing: false, ipWhitelist: [] });
      const patched = await t.admin('PATCH', `/admin/v1/brokers/${linked.bizEntityKey}`, {
        connectPartnerCode: 'PARTNER42',
      });
      assert.equal(patched.json.connectPartnerCode, 'PARTNER42');
      const body = share(linked);
      const customer = body.kycInfo.userInfo.entityCustomerId;
      await accepted(linked, body);
      const d = await statusBecomes(linked, body, 'REVIEW');
      const kyc = t.app.services.kyc;
      assert.equal(await kyc.passedSharedUser('PARTNER42', customer), null, 'not before it passed');
      await t.admin('POST', `/sandbox/v1/kyc/${d.statusInfo.kycUserId}/decision`, { decision: 'PASS' });
      const found = await kyc.passedSharedUser('PARTNER42', customer);
      assert.deepEqual(found && { kycUserId: found.kycUserId, bizEntityKey: found.bizEntityKey }, {
        kycUserId: d.statusInfo.kycUserId,
        bizEntityKey: linked.bizEntityKey,
      });
      assert.ok(found && 'residence' in found.countries, 'with the countries the record attests');
      assert.equal(await kyc.passedSharedUser('OTHER', customer), null);
      assert.equal(await kyc.passedSharedUser('PARTNER42', 'someone-else'), null);
    });
  });
}

describe('document fetch limits', () => {
  let img: Awaited<ReturnType<typeof startImageServer>>;
  before(async () => {
    img = await startImageServer();
  });
  after(() => img.close());

  test('production refuses loopback, private and link-local targets, by IP literal or by name', async () => {
    const prod = { ...DEFAULT_FETCH_LIMITS, blockPrivate: true };
    const byIp = await fetchFile(img.url('/front.png'), prod);
    assert.deepEqual(byIp, { ok: false, reason: 'DOWNLOAD_FAILED', detail: 'address not allowed' });
    const byName = await fetchFile(img.url('/front.png').replace('127.0.0.1', 'localhost'), prod);
    assert.deepEqual(byName, { ok: false, reason: 'DOWNLOAD_FAILED', detail: 'address not allowed' });
    const sandbox = await fetchFile(img.url('/front.png'), { ...DEFAULT_FETCH_LIMITS, blockPrivate: false });
    assert.equal(sandbox.ok, true);
    for (const a of [
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '169.254.169.254',
      '127.0.0.1',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '100.64.0.1',
    ])
      assert.equal(isPublicAddress(a), false, a);
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111']) assert.equal(isPublicAddress(a), true, a);
  });

  test('a slow server hits the overall timeout', async () => {
    const started = Date.now();
    const r = await fetchFile(img.url('/hang.png'), { ...DEFAULT_FETCH_LIMITS, blockPrivate: false, timeoutMs: 300 });
    assert.deepEqual(r, { ok: false, reason: 'DOWNLOAD_FAILED', detail: 'timed out' });
    assert.ok(Date.now() - started < 3_000);
  });
});

test('npx rampart broker create --name X --partial-sharing --ip 1.2.3.4', async () => {
  const run = promisify(execFile);
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-kyc-cli-'));
  try {
    const env = {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(await freePort()),
      DATABASE_URL: '',
      LOG_LEVEL: 'silent',
    };
    const created = JSON.parse(
      (
        await run(
          process.execPath,
          ['bin/rampart.mjs', 'broker', 'create', '--name', 'CLI Broker', '--partial-sharing', '--ip', '1.2.3.4'],
          { env },
        )
      ).stdout,
    );
    assert.match(created.bizEntityKey, /^[A-Z0-9]{20}$/);
    assert.match(created.secret, /^[A-Za-z0-9]{48}$/);
    assert.equal(created.sharingMode, 'PARTIAL');
    assert.deepEqual(created.ipWhitelist, ['1.2.3.4']);
    assert.deepEqual(created.questionnaireVersions, ['KZ_V6']);
    const listed = JSON.parse((await run(process.execPath, ['bin/rampart.mjs', 'broker', 'list'], { env })).stdout);
    assert.deepEqual(
      listed.map((b: any) => [b.name, b.sharingMode, b.secret]),
      [['CLI Broker', 'PARTIAL', undefined]],
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
