import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  snapshot,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';
import { browserSkip, launchBrowser } from './support/browser.ts';
import { authorize, createTsp, type Tsp } from './tsp-support.ts';

/** Sub-merchants of channel partners (binance-pay-extended.md §12) and their use on orders and the checkout. */
const FIELD = 'BinancePay-technicalServiceProviderAuthId';
type Merchant = Awaited<ReturnType<typeof createMerchant>>;
let seq = 0;
const uniq = () => `${Date.now()}${++seq}`;
const snap0 = (t: TestApp) => snapshot(t.db, ['pay_nonces', 'webhook_delivery_attempts']);
const BLOCKED = 'This merchant does not accept payments from your country';

/** The published create sample (§12.1). */
const SAMPLE = {
  merchantName: 'Acme Coffee Shop',
  storeType: 1,
  merchantMcc: '1040',
  merchantType: 4,
  country: 'SG',
  address: '1 Example Road, Singapore',
  companyName: 'Acme Coffee Pte Ltd',
  registrationNumber: '201912345K',
  registrationCountry: 'SG',
  registrationAddress: '1 Example Road, Singapore',
  incorporationDate: 1588262400000,
  contractTimeIsv: 1594656000000,
  blockPayerKycCountries: ['US'],
};
/** The smallest valid create: an online store (storeType absent → 0) needs its siteUrl. */
const minimal = (name = `Shop ${uniq()}`) => ({
  merchantName: name,
  merchantMcc: '1040',
  siteUrl: 'https://shop.example',
});

const ALL_NULL = {
  merchantType: null,
  siteUrl: null,
  address: null,
  payIndustryDescription: null,
  subPayMccCode: null,
  subPayIndustryDescription: null,
  brandLogo: null,
  companyName: null,
  registrationNumber: null,
  registrationCountry: null,
  registrationAddress: null,
  incorporationDate: null,
  certificateType: null,
  certificateCountry: null,
  certificateNumber: null,
  certificateValidDate: null,
  contractTimeIsv: null,
  blockPayerKycCountries: null,
  siteType: null,
  siteName: null,
};

for (const kind of DB_KINDS) {
  describe(`Binance Pay sub-merchants (${kind})`, () => {
    let t: TestApp;
    let partner: Merchant;
    let plain: Merchant;

    /** A merchant flagged as channel partner by the operator (§9.1, §18.5). */
    async function createPartner(name: string) {
      const m = await createMerchant(t, { name });
      const p = await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { channelPartner: true } });
      assert.equal(p.status, 200, JSON.stringify(p.json));
      return m;
    }
    async function add(m: Merchant, body: Record<string, unknown>) {
      const r = await m.client.post('/submerchant/add', body);
      assert.equal(r.json.status, 'SUCCESS', r.text);
      return String(r.json.data.subMerchantId);
    }
    /** The id exactly as written on the wire (a 16-digit JSON number). */
    const idText = (text: string) => /"subMerchantId":(\d+)/.exec(text)?.[1];

    before(async () => {
      t = await startTestApp({ kind });
      partner = await createPartner('Channel Partner Co');
      plain = await createMerchant(t, { name: 'Plain Merchant' });
    });
    afterEach(async () => {
      await assertAuditOk(t);
    });
    after(async () => {
      await t.close();
    });

    describe('create, modify, query', () => {
      test(
        'add the published sample: a 16-digit id below 2^53; query by id and by name returns every field ' +
          'as stored',
        async () => {
          const r = await partner.client.post('/submerchant/add', { ...SAMPLE, merchantName: `Acme Coffee ${uniq()}` });
          assert.equal(r.json.status, 'SUCCESS', r.text);
          assert.deepEqual(Object.keys(r.json.data), ['subMerchantId']);
          assert.match(
            r.text,
            /^\{"status":"SUCCESS","code":"000000","data":\{"subMerchantId":\d{16}\},"errorMessage":null\}$/,
          );
          const id = idText(r.text)!;
          assert.ok(BigInt(id) < 2n ** 53n && BigInt(id) >= 2107268400000001n);
          const name = (await t.db.query(`SELECT merchant_name FROM pay_sub_merchants WHERE id = $1`, [id])).rows[0]
            .merchant_name;
          const expected = {
            subMerchantId: Number(id),
            ...ALL_NULL,
            ...SAMPLE,
            merchantName: name,
            status: 'ACTIVE',
          };
          const byId = await partner.client.post('/submerchant/query', { subMerchantId: id });
          assert.deepEqual(byId.json.data, expected);
          assert.match(byId.text, /"storeType":1,/);
          assert.match(byId.text, /"incorporationDate":1588262400000,/);
          // The id also as a JSON number; the name in any case.
          const byNum = await partner.client.post('/submerchant/query', `{"subMerchantId":${id}}`);
          assert.deepEqual(byNum.json.data, expected);
          const byName = await partner.client.post('/submerchant/query', { subMerchantName: name.toUpperCase() });
          assert.deepEqual(byName.json.data, expected);
          // A free name: SUCCESS with data null.
          assert.deepEqual((await partner.client.post('/submerchant/query', { subMerchantName: 'Nobody Here' })).json, {
            status: 'SUCCESS',
            code: '000000',
            data: null,
            errorMessage: null,
          });
          // Ids count up from the published sample's.
          const next = await add(partner, minimal());
          assert.ok(BigInt(next) > BigInt(id));
        },
      );

      test('defaults: storeType absent → 0 (older clients), country absent → GO; the older revision fields stored', async () => {
        const id = await add(partner, {
          ...minimal(),
          siteType: 2,
          siteName: 'Acme App',
          mainMerchantId: 12345,
          brandLogo: 'https://cdn.example/logo.png',
        });
        const q = (await partner.client.post('/submerchant/query', { subMerchantId: id })).json.data;
        assert.equal(q.storeType, 0);
        assert.equal(q.country, 'GO');
        assert.equal(q.siteType, 2);
        assert.equal(q.siteName, 'Acme App');
        assert.equal(q.brandLogo, 'https://cdn.example/logo.png');
        assert.equal('mainMerchantId' in q, false, 'ignored: the caller is the main merchant');
      });

      test('every field rule and conditional of §12.1 answers its code and message, and changes nothing', async () => {
        const company = {
          ...minimal(),
          merchantType: 2,
          companyName: 'Co',
          registrationNumber: 'R1',
          registrationCountry: 'SG',
          registrationAddress: 'Addr',
          incorporationDate: 1588262400000,
        };
        const person = {
          ...minimal(),
          merchantType: 1,
          certificateType: 2,
          certificateCountry: 'DE',
          certificateNumber: 'P123',
          certificateValidDate: 1900000000000,
        };
        const cases: [Record<string, unknown>, string, string | RegExp][] = [
          [{ ...minimal(), merchantName: undefined }, '400100', 'merchantName: is required'],
          [{ ...minimal(), merchantName: '' }, '400100', 'merchantName: must not be empty'],
          [{ ...minimal(), merchantName: 'x'.repeat(129) }, '400101', 'merchantName: must be at most 128 characters'],
          [{ ...minimal(), merchantName: 'Bad "name"' }, '400103', 'merchantName: contains illegal characters'],
          [{ ...minimal(), merchantMcc: undefined }, '400100', 'merchantMcc: is required'],
          [{ ...minimal(), merchantMcc: '104' }, '400101', 'merchantMcc: must be a 4-digit MCC code'],
          [{ ...minimal(), merchantMcc: 'abcd' }, '400101', 'merchantMcc: must be a 4-digit MCC code'],
          [{ ...minimal(), storeType: 2 }, '400102', 'storeType: must be one of 0, 1, -1'],
          [{ ...minimal(), storeType: 'x' }, '400101', 'storeType: must be an integer'],
          [{ ...minimal(), storeType: 0.5 }, '400101', 'storeType: must be an integer'],
          [{ ...minimal(), merchantType: 6 }, '400102', 'merchantType: must be one of 1, 2, 3, 4, 5'],
          [{ ...minimal(), country: 'XX' }, '400101', /^country: must be GO or a comma-separated list/],
          [{ ...minimal(), country: 'sg' }, '400101', /^country: /],
          [{ ...minimal(), country: 'SG,,US' }, '400101', /^country: /],
          [{ ...minimal(), siteUrl: 'x'.repeat(257) }, '400101', 'siteUrl: must be at most 256 characters'],
          [{ ...minimal(), brandLogo: 'http://cdn.example/logo.png' }, '400101', 'brandLogo: must be an https:// URL'],
          [{ ...minimal(), brandLogo: `https://${'x'.repeat(250)}.png` }, '400101', /^brandLogo: must be at most 256/],
          [{ ...minimal(), subPayMccCode: '12' }, '400101', 'subPayMccCode: must be a 4-digit MCC code'],
          [{ ...minimal(), blockPayerKycCountries: 'US' }, '400100', /^blockPayerKycCountries: /],
          [
            { ...minimal(), blockPayerKycCountries: ['US', 'XX'] },
            '400101',
            /^blockPayerKycCountries\[1\]: must be an ISO/,
          ],
          [{ ...minimal(), contractTimeIsv: 'soon' }, '400101', 'contractTimeIsv: must be an integer'],
          [{ ...minimal(), siteType: 5 }, '400102', 'siteType: must be one of 1, 2, 3, 4'],
          [{ ...minimal(), siteName: 'x'.repeat(33) }, '400101', 'siteName: must be at most 32 characters'],
          [{ ...minimal(), address: 'x'.repeat(1025) }, '400101', 'address: must be at most 1024 characters'],
          // Conditionals (§12.1): the message names the field and the condition.
          [{ ...minimal(), siteUrl: undefined }, '400100', 'siteUrl: required when storeType is 0 or -1'],
          [{ ...minimal(), storeType: -1 }, '400100', 'address: required when storeType is 1 or -1'],
          [{ ...minimal(), storeType: 1 }, '400100', 'address: required when storeType is 1 or -1'],
          [
            { ...minimal(), storeType: -1, siteUrl: null, address: 'a' },
            '400100',
            'siteUrl: required when storeType is 0 or -1',
          ],
          [
            { ...minimal(), merchantMcc: '9999' },
            '400100',
            'payIndustryDescription: required when merchantMcc is 9999',
          ],
          [
            { ...minimal(), payIndustryDescription: 'x'.repeat(501) },
            '400101',
            /^payIndustryDescription: must be at most 500/,
          ],
          [
            { ...minimal(), subPayMccCode: '9999' },
            '400100',
            'subPayIndustryDescription: required when subPayMccCode is 9999',
          ],
          ...(
            [
              'companyName',
              'registrationNumber',
              'registrationCountry',
              'registrationAddress',
              'incorporationDate',
            ] as const
          ).map((f): [Record<string, unknown>, string, string] => [
            { ...company, merchantType: 4, [f]: undefined },
            '400100',
            `${f}: required when merchantType is 2, 3, 4 or 5`,
          ]),
          ...(['certificateType', 'certificateCountry', 'certificateNumber', 'certificateValidDate'] as const).map(
            (f): [Record<string, unknown>, string, string] => [
              { ...person, [f]: undefined },
              '400100',
              `${f}: required when merchantType is 1`,
            ],
          ),
          [{ ...company, companyName: 'x'.repeat(65) }, '400101', 'companyName: must be at most 64 characters'],
          [{ ...company, registrationCountry: 'ZZ' }, '400101', /^registrationCountry: must be an ISO/],
          [{ ...person, certificateType: 3 }, '400102', 'certificateType: must be one of 1, 2'],
          [{ ...person, certificateCountry: 'germany' }, '400101', /^certificateCountry: /],
          [{ ...person, certificateNumber: 'x'.repeat(65) }, '400101', /^certificateNumber: must be at most 64/],
        ];
        const snap = await snap0(t);
        for (const [body, code, message] of cases) {
          const r = await partner.client.post('/submerchant/add', body);
          assert.equal(r.json.code, code, `${JSON.stringify(body).slice(0, 200)}: ${r.text}`);
          if (typeof message === 'string') assert.equal(r.json.errorMessage, message);
          else assert.match(r.json.errorMessage, message);
        }
        assert.deepEqual(await snap0(t), snap);
        // The complete variants are valid.
        await add(partner, company);
        await add(partner, person);
        await add(partner, { ...minimal(), merchantMcc: '9999', payIndustryDescription: 'Other trade' });
        await add(partner, { ...minimal(), storeType: -1, address: 'Both Road 1' });
        await add(partner, { ...minimal(), country: 'SG,US,DE' });
        await add(partner, { ...minimal(), country: 'GO,NZ' }); // as the official Python connector's example sends it
      });

      test(
        'names are unique per partner, case-insensitively (400205); another partner may reuse one; a race has ' +
          'one winner',
        async () => {
          const name = `Unique Bakery ${uniq()}`;
          await add(partner, minimal(name));
          const snap = await snap0(t);
          for (const n of [name, name.toUpperCase(), name.toLowerCase()]) {
            assert.deepEqual((await partner.client.post('/submerchant/add', minimal(n))).json, {
              status: 'FAIL',
              code: '400205',
              errorMessage: 'Sub-merchant already exists.',
            });
          }
          assert.deepEqual(await snap0(t), snap);
          const other = await createPartner('Other Partner');
          await add(other, minimal(name));
          const raced = `Race Cafe ${uniq()}`;
          const results = await Promise.all(
            Array.from({ length: 8 }, (_, i) =>
              partner.client.post('/submerchant/add', minimal(i % 2 ? raced : raced.toUpperCase())),
            ),
          );
          assert.equal(results.filter((r) => r.json.status === 'SUCCESS').length, 1, results.map((r) => r.text).join());
          assert.ok(results.every((r) => r.json.status === 'SUCCESS' || r.json.code === '400205'));
        },
      );

      test('modify: present replaces, absent keeps, null clears; conditionals on the merged record; 400205, 400206', async () => {
        const id = await add(partner, {
          ...SAMPLE,
          merchantName: `Modify Me ${uniq()}`,
          brandLogo: 'https://x.example/l.png',
        });
        const before = (await partner.client.post('/submerchant/query', { subMerchantId: id })).json.data;
        const base = { subMerchantId: id, merchantName: before.merchantName, storeType: 1, merchantMcc: '1040' };
        // storeType -1 needs a siteUrl as well; the stored address still counts.
        const missing = await partner.client.post('/submerchant/modify', { ...base, storeType: -1 });
        assert.deepEqual(missing.json, {
          status: 'FAIL',
          code: '400100',
          errorMessage: 'siteUrl: required when storeType is 0 or -1',
        });
        const r = await partner.client.post('/submerchant/modify', {
          ...base,
          storeType: -1,
          siteUrl: 'https://acme.example',
          brandLogo: null, // cleared
          blockPayerKycCountries: ['US', 'CA'], // replaced
          merchantName: `${before.merchantName} Renamed`,
        });
        assert.equal(r.json.status, 'SUCCESS', r.text);
        assert.equal(idText(r.text), id);
        const after1 = (await partner.client.post('/submerchant/query', { subMerchantId: id })).json.data;
        assert.deepEqual(after1, {
          ...before,
          merchantName: `${before.merchantName} Renamed`,
          storeType: -1,
          siteUrl: 'https://acme.example',
          brandLogo: null,
          blockPayerKycCountries: ['US', 'CA'],
        });
        // Clearing a field the merged record needs is refused: merchantType 4 needs its company fields.
        const cleared = await partner.client.post('/submerchant/modify', {
          ...base,
          storeType: -1,
          merchantName: after1.merchantName,
          companyName: null,
        });
        assert.equal(cleared.json.errorMessage, 'companyName: required when merchantType is 2, 3, 4 or 5');
        // Clearing merchantType drops that condition; a field of the person rules is then not needed either.
        const noType = await partner.client.post('/submerchant/modify', {
          ...base,
          storeType: -1,
          merchantName: after1.merchantName,
          merchantType: null,
          companyName: null,
        });
        assert.equal(noType.json.status, 'SUCCESS', noType.text);
        const after2 = (await partner.client.post('/submerchant/query', { subMerchantId: id })).json.data;
        assert.equal(after2.merchantType, null);
        assert.equal(after2.companyName, null);
        assert.equal(after2.registrationNumber, '201912345K', 'absent: kept');
        // merchantType 1 now needs the certificate fields.
        const person = await partner.client.post('/submerchant/modify', {
          ...base,
          storeType: -1,
          merchantName: after1.merchantName,
          merchantType: 1,
        });
        assert.equal(person.json.errorMessage, 'certificateType: required when merchantType is 1');

        // Renaming onto another sub-merchant's name (any case) → 400205; its own name in another case is fine.
        const otherName = `Taken Name ${uniq()}`;
        await add(partner, minimal(otherName));
        const snap = await snap0(t);
        const taken = await partner.client.post('/submerchant/modify', {
          ...base,
          storeType: -1,
          merchantName: otherName.toLowerCase(),
        });
        assert.deepEqual(taken.json, {
          status: 'FAIL',
          code: '400205',
          errorMessage: 'Sub-merchant already exists.',
        });
        assert.deepEqual(await snap0(t), snap);
        const same = await partner.client.post('/submerchant/modify', {
          ...base,
          storeType: -1,
          merchantName: after1.merchantName.toUpperCase(),
        });
        assert.equal(same.json.status, 'SUCCESS', same.text);

        // Mandatory fields, the id's format, unknown and foreign ids.
        const other = await createPartner('Foreign Partner');
        const foreign = await add(other, minimal());
        const cases: [Record<string, unknown>, string, string][] = [
          [{ ...base, subMerchantId: undefined }, '400100', 'subMerchantId: is required'],
          [{ ...base, subMerchantId: 'abc' }, '400101', 'subMerchantId: must be digits'],
          [{ ...base, subMerchantId: '1'.repeat(129) }, '400101', 'subMerchantId: must be at most 128 characters'],
          [{ ...base, merchantName: undefined }, '400100', 'merchantName: is required'],
          [{ ...base, storeType: undefined }, '400100', 'storeType: is required'],
          [{ ...base, merchantMcc: undefined }, '400100', 'merchantMcc: is required'],
          [{ ...base, subMerchantId: '2107268400999999' }, '400206', 'Sub-merchant does not exist or is unavailable.'],
          [{ ...base, subMerchantId: '9'.repeat(40) }, '400206', 'Sub-merchant does not exist or is unavailable.'],
          [{ ...base, subMerchantId: foreign }, '400206', 'Sub-merchant does not exist or is unavailable.'],
        ];
        const snap2 = await snap0(t);
        for (const [body, code, message] of cases) {
          const x = await partner.client.post('/submerchant/modify', body);
          assert.deepEqual([x.json.code, x.json.errorMessage], [code, message], JSON.stringify(body));
        }
        assert.deepEqual(await snap0(t), snap2);
      });

      test('query: exactly one of id and name (both or neither → 400102); unknown or foreign id → 400102', async () => {
        const id = await add(partner, minimal());
        const other = await createPartner('Query Partner');
        const foreign = await add(other, minimal());
        for (const body of [{}, { subMerchantId: id, subMerchantName: 'x' }, { subMerchantId: null }]) {
          const r = await partner.client.post('/submerchant/query', body);
          assert.deepEqual(
            [r.json.code, r.json.errorMessage],
            ['400102', 'subMerchantId: exactly one of subMerchantId and subMerchantName is required'],
          );
        }
        for (const sid of ['2107268400999999', foreign, '9'.repeat(30)]) {
          const r = await partner.client.post('/submerchant/query', { subMerchantId: sid });
          assert.equal(r.json.code, '400102', r.text);
        }
        assert.equal(
          (await partner.client.post('/submerchant/query', { subMerchantName: 'x'.repeat(129) })).json.code,
          '400101',
        );
        assert.equal((await partner.client.post('/submerchant/query', { subMerchantId: '12a' })).json.code, '400101');
      });
    });
    describe('feature gate and TSP scope', () => {
      test('feature channelPartner off → 400203 on all three (fields first); the flag back on → works', async () => {
        const gated = {
          status: 'FAIL',
          code: '400203',
          errorMessage: 'Not support for this account, please check account status.',
        };
        const snap = await snap0(t);
        assert.deepEqual((await plain.client.post('/submerchant/add', minimal())).json, gated);
        assert.deepEqual(
          (
            await plain.client.post('/submerchant/modify', {
              subMerchantId: '2107268400000001',
              ...minimal(),
              storeType: 0,
            })
          ).json,
          gated,
        );
        assert.deepEqual((await plain.client.post('/submerchant/query', { subMerchantName: 'x' })).json, gated);
        assert.equal((await plain.client.post('/submerchant/add', { merchantMcc: '1040' })).json.code, '400100');
        assert.deepEqual(await snap0(t), snap);
        const m = await createMerchant(t, { name: 'Late Partner' });
        assert.deepEqual((await m.client.post('/submerchant/add', minimal())).json, gated);
        await t.admin('PATCH', `/admin/v1/merchants/${m.merchantId}`, { features: { channelPartner: true } });
        await add(m, minimal());
      });

      test('TSP: CHECKOUT scope calls for the partner; without it or from outside the IP list → 400004', async () => {
        const tsp: Tsp = await createTsp(t);
        try {
          const p = await createPartner('TSP Partner');
          const a = await authorize(t, tsp, p.merchantId, ['CHECKOUT']);
          const name = `Via TSP ${uniq()}`;
          const r = await tsp.client.post('/submerchant/add', { [FIELD]: a.authorizationToken, ...minimal(name) });
          assert.equal(r.json.status, 'SUCCESS', r.text);
          // The sub-merchant is the partner's (not the TSP's, which is no partner at all).
          const q = await p.client.post('/submerchant/query', { subMerchantName: name });
          assert.equal(String(q.json.data.subMerchantId), String(r.json.data.subMerchantId));
          for (const [scopes, ips, message] of [
            [['REFUND'], [], /^Scope CHECKOUT is not authorized\.$/],
            [['CHECKOUT'], ['10.1.2.3'], /^IP is not in the authorization whitelist\.$/],
          ] as const) {
            const token = (await authorize(t, tsp, p.merchantId, [...scopes], [...ips])).authorizationToken;
            const snap = await snap0(t);
            for (const [path, body] of [
              ['/submerchant/add', minimal()],
              ['/submerchant/modify', { subMerchantId: String(r.json.data.subMerchantId), ...minimal(), storeType: 0 }],
              ['/submerchant/query', { subMerchantName: name }],
            ] as const) {
              const x = await tsp.client.post(path, { [FIELD]: token, ...body });
              assert.equal(x.json.code, '400004', x.text);
              assert.match(x.json.errorMessage, message);
            }
            assert.deepEqual(await snap0(t), snap);
          }
        } finally {
          await tsp.receiver.close();
        }
      });
    });
    describe('orders and the checkout', () => {
      test(
        'orders: v3 needs merchant.subMerchantId from a partner (400100), an own ACTIVE one (400206); ' +
          'non-partners none',
        async () => {
          const sub = await add(partner, minimal());
          const other = await createPartner('Order Other Partner');
          const foreign = await add(other, minimal());
          const snap = await snap0(t);
          const missing = await partner.client.post('/v3/order', v3Order());
          assert.deepEqual(missing.json, {
            status: 'FAIL',
            code: '400100',
            errorMessage: 'merchant.subMerchantId: required when the merchant is a channel partner',
          });
          const invalid = {
            status: 'FAIL',
            code: '400206',
            errorMessage: 'Sub-merchant does not exist or is unavailable.',
          };
          for (const s of ['2107268400999999', foreign, 'abc', '9999999999999999999'])
            assert.deepEqual(
              (await partner.client.post('/v3/order', v3Order({ merchant: { subMerchantId: s } }))).json,
              invalid,
            );
          // A merchant that is no partner may not tag its orders (Decision).
          assert.deepEqual(
            (await plain.client.post('/v3/order', v3Order({ merchant: { subMerchantId: sub } }))).json,
            invalid,
          );
          assert.deepEqual(await snap0(t), snap);
          assert.equal((await plain.client.post('/v3/order', v3Order())).json.status, 'SUCCESS');

          // Tagged: created, stored with the tag, and settles to the partner's funding wallet.
          const c = await partner.client.post(
            '/v3/order',
            v3Order({ merchant: { subMerchantId: sub }, orderAmount: '10' }),
          );
          assert.equal(c.json.status, 'SUCCESS', c.text);
          const prepayId = c.json.data.prepayId;
          const order = await t.app.services.orders.getByPrepayId(prepayId);
          assert.equal(order?.subMerchantId, sub);
          assert.equal(order?.merchantId, partner.merchantId);
          // The id as a JSON number is the same id.
          const n = await partner.client.post(
            '/v3/order',
            JSON.stringify(v3Order({ merchant: { subMerchantId: 0 } })).replace(
              '"subMerchantId":0',
              `"subMerchantId":${sub}`,
            ),
          );
          assert.equal(n.json.status, 'SUCCESS', n.text);
          const payer = await createPayer(t, `sub-order-${kind}-${uniq()}@example.com`, { USDT: '100' });
          const before = await partnerFunding();
          const p = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: payer.email });
          assert.equal(p.json.status, 'PAID', JSON.stringify(p.json));
          assert.ok(Number(await partnerFunding()) > Number(before), 'the partner is credited');
          // Query responses are unchanged by the tag (§12.5).
          const q = await partner.client.post('/v2/order/query', { prepayId });
          assert.equal('subMerchantId' in q.json.data, false);
        },
      );

      async function partnerFunding() {
        const r = await partner.client.post('/v2/balance', { wallet: 'FUNDING_WALLET', currency: 'USDT' });
        return r.json.data.balance[0]?.available ?? 0;
      }

      test('V1 create, query and close take the top-level subMerchantId', async () => {
        const sub = await add(partner, minimal());
        const sub2 = await add(partner, minimal());
        const v1 = (extra: Record<string, unknown>) => ({
          merchantId: partner.merchantId,
          merchantTradeNo: `V1${uniq()}`,
          tradeType: 'WEB',
          totalFee: '1.00',
          currency: 'USDT',
          productType: 'Food',
          productName: 'Ice',
          ...extra,
        });
        const missing = await partner.client.post('/order', v1({}));
        assert.deepEqual(
          [missing.json.code, missing.json.errorMessage],
          ['400100', 'subMerchantId: required when the merchant is a channel partner'],
        );
        assert.equal(
          (await partner.client.post('/order', v1({ subMerchantId: '2107268400999999' }))).json.code,
          '400206',
        );
        const body = v1({ subMerchantId: sub });
        const c = await partner.client.post('/order', body);
        assert.equal(c.json.status, 'SUCCESS', c.text);
        const ref = { merchantId: partner.merchantId, merchantTradeNo: body.merchantTradeNo };
        assert.equal(
          (await partner.client.post('/order/query', { ...ref, subMerchantId: sub })).json.status,
          'SUCCESS',
        );
        assert.equal((await partner.client.post('/order/query', ref)).json.status, 'SUCCESS');
        // Another of its sub-merchants: the order is not that one's.
        assert.equal((await partner.client.post('/order/query', { ...ref, subMerchantId: sub2 })).json.code, '400202');
        assert.equal(
          (await partner.client.post('/order/query', { ...ref, subMerchantId: '2107268400999999' })).json.code,
          '400206',
        );
        assert.equal(
          (await partner.client.post('/order/close', { merchantTradeNo: body.merchantTradeNo, subMerchantId: sub2 }))
            .json.code,
          '400202',
        );
        const closed = await partner.client.post('/order/close', {
          merchantTradeNo: body.merchantTradeNo,
          subMerchantId: sub,
        });
        assert.deepEqual(closed.json.data, true);
        // Non-partners: any subMerchantId on query or close is 400206.
        assert.equal(
          (
            await plain.client.post('/order/query', {
              merchantId: plain.merchantId,
              merchantTradeNo: 'x',
              subMerchantId: sub,
            })
          ).json.code,
          '400206',
        );
        assert.equal(
          (await plain.client.post('/order/close', { merchantTradeNo: 'x', subMerchantId: sub })).json.code,
          '400206',
        );
      });

      test(
        'the operator disables a sub-merchant: 400206 on orders and modify, shown DISABLED on query; ' +
          'enabled again',
        async () => {
          const sub = await add(partner, minimal());
          const noToken = await fetch(`${t.baseUrl}/admin/v1/submerchants/${sub}/status`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ status: 'DISABLED' }),
          });
          assert.equal(noToken.status, 401);
          assert.equal((await t.admin('POST', `/admin/v1/submerchants/${sub}/status`, { status: 'GONE' })).status, 400);
          assert.equal(
            (await t.admin('POST', '/admin/v1/submerchants/2107268400999999/status', { status: 'ACTIVE' })).status,
            404,
          );
          const d = await t.admin('POST', `/admin/v1/submerchants/${sub}/status`, { status: 'DISABLED' });
          assert.deepEqual(d.json, { subMerchantId: sub, merchantId: partner.merchantId, status: 'DISABLED' });
          const snap = await snap0(t);
          const invalid = {
            status: 'FAIL',
            code: '400206',
            errorMessage: 'Sub-merchant does not exist or is unavailable.',
          };
          assert.deepEqual(
            (await partner.client.post('/v3/order', v3Order({ merchant: { subMerchantId: sub } }))).json,
            invalid,
          );
          const q = await partner.client.post('/submerchant/query', { subMerchantId: sub });
          assert.equal(q.json.data.status, 'DISABLED');
          const mod = await partner.client.post('/submerchant/modify', {
            subMerchantId: sub,
            ...minimal(),
            storeType: 0,
          });
          assert.deepEqual(mod.json, invalid);
          assert.deepEqual(await snap0(t), snap);
          await t.admin('POST', `/admin/v1/submerchants/${sub}/status`, { status: 'ACTIVE' });
          const ok = await partner.client.post('/v3/order', v3Order({ merchant: { subMerchantId: sub } }));
          assert.equal(ok.json.status, 'SUCCESS', ok.text);
        },
      );

      test('checkout: the sub-merchant name and logo instead of the partner; a blocked payer country cannot pay', async () => {
        const name = `Gelato Corner ${uniq()}`;
        const sub = await add(partner, {
          ...minimal(name),
          brandLogo: 'https://127.0.0.1:9/gelato-logo.png',
          blockPayerKycCountries: ['US', 'KP'],
        });
        const c = await partner.client.post(
          '/v3/order',
          v3Order({ merchant: { subMerchantId: sub }, orderAmount: '5' }),
        );
        assert.equal(c.json.status, 'SUCCESS', c.text);
        const { prepayId, checkoutUrl } = c.json.data;
        const page = await (await fetch(checkoutUrl)).text();
        assert.ok(page.includes(name), 'the sub-merchant name');
        assert.ok(page.includes('src="https://127.0.0.1:9/gelato-logo.png"'), 'the brand logo');
        assert.ok(!page.includes('Channel Partner Co'), 'not the partner');

        const us = await createPayer(t, `us-${kind}-${uniq()}@example.com`, { USDT: '100' });
        const blocked = await t.admin('POST', '/sandbox/v1/payers', {
          email: `kp-${kind}-${uniq()}@example.com`,
          password: 'payer-password-1',
          balances: { USDT: '100' },
          country: 'KP',
        });
        assert.equal(blocked.status, 201, JSON.stringify(blocked.json));
        assert.equal(blocked.json.country, 'KP');
        const snap = await snap0(t);
        const refused = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, {
          payerEmail: blocked.json.email,
        });
        assert.equal(refused.status, 409);
        assert.deepEqual(refused.json, { error: { code: 'PAYER_COUNTRY_BLOCKED', message: BLOCKED } });
        assert.deepEqual(await snap0(t), snap, 'nothing moved');
        assert.equal((await partner.client.post('/v2/order/query', { prepayId })).json.data.status, 'INITIAL');
        // A payer of another country, or without one (Decision: not blocked), pays.
        assert.equal(us.payerId.length > 0, true);
        const sg = await t.admin('POST', '/sandbox/v1/payers', {
          email: `sg-${kind}-${uniq()}@example.com`,
          password: 'payer-password-1',
          balances: { USDT: '100' },
          country: 'SG',
        });
        const paid = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: sg.json.email });
        assert.equal(paid.json.status, 'PAID', JSON.stringify(paid.json));
        const c2 = await partner.client.post(
          '/v3/order',
          v3Order({ merchant: { subMerchantId: sub }, orderAmount: '5' }),
        );
        const paid2 = await t.admin('POST', `/sandbox/v1/orders/${c2.json.data.prepayId}/pay`, {
          payerEmail: us.email,
        });
        assert.equal(paid2.json.status, 'PAID', 'a payer without a KYC country is not blocked');
        // An invalid country is refused by the sandbox.
        const bad = await t.admin('POST', '/sandbox/v1/payers', { email: `x-${uniq()}@example.com`, country: 'usa' });
        assert.equal(bad.status, 400);
      });

      test(
        'checkout in Chromium on a phone: the sub-merchant shown, the blocked payer sees why and no pay button',
        { skip: browserSkip },
        async () => {
          const name = `Phone Gelato ${uniq()}`;
          const sub = await add(partner, { ...minimal(name), blockPayerKycCountries: ['KP'] });
          const c = await partner.client.post(
            '/v3/order',
            v3Order({ merchant: { subMerchantId: sub }, orderAmount: '3' }),
          );
          const email = `kp-browser-${kind}-${uniq()}@example.com`;
          const r = await t.admin('POST', '/sandbox/v1/payers', {
            email,
            password: 'payer-password-1',
            balances: { USDT: '100' },
            country: 'KP',
          });
          assert.equal(r.status, 201);
          const browser = await launchBrowser();
          try {
            const page = await browser.newPage();
            await page.setViewportSize({ width: 390, height: 844 });
            await page.goto(c.json.data.checkoutUrl);
            assert.equal((await page.innerText('#merchant')).trim(), name);
            await page.fill('#email', email);
            await page.fill('#password', 'payer-password-1');
            await page.click('button[type=submit]');
            await page.waitForSelector('#blocked');
            assert.equal((await page.innerText('#blocked')).trim(), BLOCKED);
            assert.equal(await page.locator('#pay').count(), 0, 'no pay button');
            // Nothing overflows the phone's width.
            const width = await page.evaluate(() => document.documentElement.scrollWidth);
            assert.ok(width <= 390, `page width ${width}`);
            await browser.screenshot(page, `${kind}-submerchant-blocked-phone`);
          } finally {
            await browser.close();
          }
          assert.equal(
            (await partner.client.post('/v2/order/query', { prepayId: c.json.data.prepayId })).json.data.status,
            'INITIAL',
          );
        },
      );
    });
  });
}
