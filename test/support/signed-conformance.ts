import assert from 'node:assert/strict';
import { createHmac, createSign, randomBytes } from 'node:crypto';

/**
 * The conformance table of the signed API families (issue 14, point 8): one list of every signed endpoint of
 * Binance Pay, Binance Connect and KYC Sharing, and the same malformed requests sent to each, with the exact
 * answer each family gives today (HTTP status, envelope, code). It pins the wire, so the route layer underneath
 * can be rebuilt without changing an answer. Requests are signed here from the specs, not with helpers from src,
 * so the suite does not move when the code does.
 */

export type Family = 'pay' | 'connect' | 'connect2' | 'kyc';

export const PAY_PREFIX = '/binancepay/openapi';
export const CONNECT_PREFIXES = [
  '/gateway-api/v1/public/open-api/connect',
  '/bapi/fiat/v1/public/open-api/connect',
] as const;
export const KYC_PREFIX = '/bapi/ekyc/v2/public/ekyc/customer';
/** Connect generation 2 (binance-connect-v2.md §1): one prefix, and a v2 one for the payment-method lists. */
export const CONNECT2_PREFIXES = ['/papi/v1/ramp/connect', '/papi/v2/ramp/connect'] as const;
/** Every route under these is a signed endpoint of a family (wildcards aside). */
export const SIGNED_PREFIXES = [
  `${PAY_PREFIX}/`,
  ...CONNECT_PREFIXES.map((p) => `${p}/`),
  ...CONNECT2_PREFIXES.map((p) => `${p}/`),
  `${KYC_PREFIX}/`,
];

/** The identities the suite signs with: a merchant API key (not a TSP), a Connect partner, a KYC broker. */
export interface Credentials {
  pay: { apiKey: string; apiSecret: string; merchantId: string };
  connect: { merchantCode: string; privateKey: string };
  /** The same Connect partner's generation-2 credentials (one onboarding, binance-connect-v2.md §13). */
  connect2: { clientId: string; signAccessToken: string; privateKey: string };
  kyc: { bizEntityKey: string; secret: string };
}

type Body = Record<string, unknown>;

/** The cases every endpoint runs, besides one "missing header <name>" per authentication header of its family. */
export const CASE_IDS = [
  'unknown identity',
  'garbled signature',
  'signature of other bytes',
  'stale timestamp',
  'future timestamp',
  'replayed nonce',
  'no content type',
  'wrong content type',
  'unparsable content type',
  'body over the family limit',
  'body over the transport limit',
  'non-JSON body',
  'NUL in a string field',
  'number where a string is expected',
  'object where a string is expected',
  'method GET',
  'method PUT',
  'method DELETE',
] as const;
export type CaseId = (typeof CASE_IDS)[number] | `missing header ${string}`;

/**
 * What a case must get back: HTTP status and wire code (`000000`: the family's success envelope), or why it does not
 * apply.
 */
export type Answer = { http: number; code: string; todo?: string } | { notApplicable: string };

export interface Endpoint {
  family: Family;
  /** The full URL path. */
  path: string;
  /** The methods the endpoint serves; every other method is a wrong-method case. */
  methods: string[];
  /** A well-formed body (the create endpoints' would create): each case differs from a good request in one thing. */
  body(c: Credentials): Body;
  /** A string field of the body (dotted path) for the field-level cases; null when the endpoint takes no parameters. */
  field: string | null;
  /** Answers of this endpoint that differ from its family's. */
  answers?: Partial<Record<CaseId, Answer>>;
  /**
   * A family without a replay cache sends this body twice for the replay case (default: `body`), so an endpoint
   * whose good request would create something replays one refused for its content instead, changing nothing.
   */
  replayBody?(c: Credentials): Body;
}

export interface Req {
  method: string;
  headers: Record<string, string>;
  body: Buffer | null;
}

const J = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');
const alnum = (n: number) => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(n), (b) => abc[b % abc.length]).join('');
};

/** The parsed envelope, after checking it is a JSON object with exactly these keys. */
function exactKeys(json: unknown, keys: string[], text: string): Record<string, unknown> {
  assert.ok(
    json !== null && typeof json === 'object' && !Array.isArray(json),
    `not a JSON object: ${text.slice(0, 300)}`,
  );
  assert.deepEqual(Object.keys(json).sort(), [...keys].sort(), `envelope keys: ${text.slice(0, 300)}`);
  return json as Record<string, unknown>;
}

/**
 * A family: how a request is signed, its authentication headers, its body limit, its two envelopes and its
 * answer to each case.
 */
interface FamilySpec {
  /** The authentication headers, each left out by a case of its own, with the answer. */
  authHeaders: Record<string, Answer>;
  /** The family's own body limit (bytes); a body one byte over it is refused. */
  bodyLimit: number;
  /** Signs `body` as sent; returns every header of a good request (Content-Type included). */
  sign(
    c: Credentials,
    body: Buffer,
    opts: { timestamp?: string; nonce?: string; method: string },
  ): Record<string, string>;
  /** Asserts the exact failure envelope and returns its code. */
  failure(json: unknown, text: string): string;
  /** Asserts the exact success envelope. */
  success(json: unknown, text: string): void;
  answers: Record<(typeof CASE_IDS)[number], Answer>;
  /** No nonce and no replay cache: a repeated request gets the answer its first sending got. */
  noReplayCache?: boolean;
}

/** Pay codes a malformed request may get (binance-pay.md §8); the message may be a code's own detail. */
const PAY_CODES = new Set([
  '400001',
  '400002',
  '400003',
  '400004',
  '400005',
  '400006',
  '400007',
  '400008',
  '400100',
  '400101',
  '400102',
  '400103',
  '400104',
  '400201',
  '400202',
  '400203',
  '400301',
]);

/** Connect messages (binance-connect.md §8); 010 and 011 name the field. */
const CONNECT_MESSAGES: Record<string, RegExp> = {
  OPE100000001: /^System error, please try again later\.$/,
  OPE100000002: /^Signature verification failed\.$/,
  OPE100000003: /^Request timestamp is outside the allowed window\.$/,
  OPE100000004: /^Unknown merchantCode\.$/,
  OPE100000007: /^Missing merchantCode, timestamp or x-api-signature header\.$/,
  OPE100000010: /^The parameter \S+ is illegal\.$/,
  OPE100000011: /^The parameter \S+ is required\.$/,
  OPE100000020: /^Trade pair is not supported\.$/,
  OPE100000040: /^Order not found\.$/,
  OPE100000041: /^Duplicate merchantOrderId\.$/,
};

/** Connect generation 2 messages (binance-connect-v2.md §11); 1130303 names the field or header. */
const CONNECT2_MESSAGES: Record<string, RegExp> = {
  '1130101': /^(System error|Not found)$/,
  '1130102': /^System busy\. Please try again later$/,
  '1130303': /^The parameter \S+ is illegal$/,
  '1130304': /^Missing client id from request$/,
  '1130306': /^Can not find the order$/,
  '1130307': /^Unsupported order type$/,
  '1130314': /^Can not find the partner$/,
};

/** KYC Sharing error names (kyc-sharing.md §8): a failure's `message` is the name of its code. */
const KYC_NAMES: Record<string, string> = {
  '000002': 'ILLEGAL_PARAM',
  '10040005': 'ILLEGAL_REQUEST',
  '10040080': 'SIGN_MISMATCH',
};

/**
 * A JSON number is read as its digits by the Pay and Connect parsers (number literals become their exact text,
 * for lossless amounts), so no field can tell `12345` from `"12345"`: a number where the spec wants a string is
 * accepted, where binance-pay.md §3 ("wrong JSON type → 400100") and binance-connect.md §3 step 7 ("wrong type →
 * OPE100000010") refuse it. The create endpoints then create an order from such a body.
 */
export const NUMBER_AS_STRING =
  'a JSON number is accepted where the spec wants a string (the lossless number parser hands the field its digits)';

const WINDOW = 301_000;

export const FAMILIES: Record<Family, FamilySpec> = {
  pay: {
    authHeaders: {
      'BinancePay-Certificate-SN': { http: 200, code: '400005' },
      'BinancePay-Timestamp': { http: 200, code: '400003' },
      'BinancePay-Nonce': { http: 200, code: '400001' },
      'BinancePay-Signature': { http: 200, code: '400002' },
    },
    bodyLimit: 256 * 1024,
    sign(c, body, opts) {
      const timestamp = opts.timestamp ?? String(Date.now());
      const nonce = opts.nonce ?? alnum(32);
      const payload = Buffer.concat([Buffer.from(`${timestamp}\n${nonce}\n`), body, Buffer.from('\n')]);
      return {
        'content-type': 'application/json',
        'BinancePay-Timestamp': timestamp,
        'BinancePay-Nonce': nonce,
        'BinancePay-Certificate-SN': c.pay.apiKey,
        'BinancePay-Signature': createHmac('sha512', c.pay.apiSecret).update(payload).digest('hex').toUpperCase(),
      };
    },
    failure(json, text) {
      const e = exactKeys(json, ['status', 'code', 'errorMessage'], text);
      assert.equal(e.status, 'FAIL', text);
      assert.ok(PAY_CODES.has(String(e.code)), `unexpected Pay code: ${text}`);
      assert.ok(typeof e.errorMessage === 'string' && e.errorMessage.length > 0 && e.errorMessage.length <= 256, text);
      return String(e.code);
    },
    success(json, text) {
      const e = exactKeys(json, ['status', 'code', 'data', 'errorMessage'], text);
      assert.deepEqual([e.status, e.code, e.errorMessage], ['SUCCESS', '000000', null], text);
    },
    answers: {
      'unknown identity': { http: 200, code: '400004' },
      'garbled signature': { http: 200, code: '400002' },
      'signature of other bytes': { http: 200, code: '400002' },
      'stale timestamp': { http: 200, code: '400003' },
      'future timestamp': { http: 200, code: '400003' },
      'replayed nonce': { http: 200, code: '400001' },
      'no content type': { http: 200, code: '400007' },
      'wrong content type': { http: 200, code: '400007' },
      'unparsable content type': { http: 200, code: '400007' },
      'body over the family limit': { http: 200, code: '400104' },
      'body over the transport limit': { http: 200, code: '400104' },
      'non-JSON body': { http: 200, code: '400008' },
      'NUL in a string field': { http: 200, code: '400103' },
      'number where a string is expected': { http: 200, code: '400100' },
      'object where a string is expected': { http: 200, code: '400100' },
      'method GET': { http: 200, code: '400006' },
      'method PUT': { http: 200, code: '400006' },
      'method DELETE': { http: 200, code: '400006' },
    },
  },
  connect: {
    authHeaders: {
      merchantCode: { http: 200, code: 'OPE100000007' },
      timestamp: { http: 200, code: 'OPE100000007' },
      'x-api-signature': { http: 200, code: 'OPE100000007' },
    },
    bodyLimit: 64 * 1024,
    sign(c, body, opts) {
      const timestamp = opts.timestamp ?? String(Date.now());
      const tail = `merchantCode=${c.connect.merchantCode}&timestamp=${timestamp}`;
      const message = body.length ? Buffer.concat([body, Buffer.from(`&${tail}`)]) : Buffer.from(tail);
      return {
        ...(opts.method === 'GET' ? {} : { 'content-type': 'application/json' }),
        merchantCode: c.connect.merchantCode,
        timestamp,
        'x-api-signature': createSign('RSA-SHA256').update(message).sign(c.connect.privateKey, 'base64'),
      };
    },
    failure(json, text) {
      const e = exactKeys(json, ['success', 'code', 'message', 'messageDetail', 'data'], text);
      assert.equal(e.success, false, text);
      assert.equal(e.data, null, text);
      assert.ok(e.messageDetail === null || typeof e.messageDetail === 'string', text);
      const pattern = CONNECT_MESSAGES[String(e.code)];
      assert.ok(pattern, `unexpected Connect code: ${text}`);
      assert.match(String(e.message), pattern, text);
      return String(e.code);
    },
    success(json, text) {
      const e = exactKeys(json, ['success', 'code', 'message', 'messageDetail', 'data'], text);
      assert.deepEqual([e.success, e.code, e.message, e.messageDetail], [true, '000000', null, null], text);
    },
    answers: {
      'unknown identity': { http: 200, code: 'OPE100000004' },
      'garbled signature': { http: 200, code: 'OPE100000002' },
      'signature of other bytes': { http: 200, code: 'OPE100000002' },
      'stale timestamp': { http: 200, code: 'OPE100000003' },
      'future timestamp': { http: 200, code: 'OPE100000003' },
      'replayed nonce': { notApplicable: 'Connect has no nonce and no replay cache (binance-connect.md §3)' },
      // Connect does not check Content-Type (§3 names the header but gives no rule or code): the request is
      // served, here refused at the emptied field (see the case).
      'no content type': { http: 200, code: 'OPE100000011' },
      // text/plain is read by fastify's own text parser, so the signature is checked over an empty body.
      'wrong content type': { http: 200, code: 'OPE100000002' },
      'unparsable content type': { http: 200, code: 'OPE100000010' },
      'body over the family limit': { http: 200, code: 'OPE100000010' },
      'body over the transport limit': { http: 200, code: 'OPE100000010' },
      'non-JSON body': { http: 200, code: 'OPE100000010' },
      'NUL in a string field': { http: 200, code: 'OPE100000010' },
      'number where a string is expected': { http: 200, code: 'OPE100000010' },
      'object where a string is expected': { http: 200, code: 'OPE100000010' },
      // A method the op does not have falls to the prefix's unknown-path route (§2: HTTP 404, OPE100000001).
      'method GET': { http: 404, code: 'OPE100000001' },
      'method PUT': { http: 404, code: 'OPE100000001' },
      'method DELETE': { http: 404, code: 'OPE100000001' },
    },
  },
  connect2: {
    authHeaders: {
      'X-Tesla-ClientId': { http: 200, code: '1130304' },
      'X-Tesla-SignAccessToken': { http: 200, code: '1130303' },
      'X-Tesla-Timestamp': { http: 200, code: '1130303' },
      'X-Tesla-Signature': { http: 200, code: '1130303' },
    },
    bodyLimit: 256 * 1024,
    sign(c, body, opts) {
      const timestamp = opts.timestamp ?? String(Date.now());
      return {
        ...(opts.method === 'GET' ? {} : { 'content-type': 'application/json' }),
        'X-Tesla-ClientId': c.connect2.clientId,
        'X-Tesla-SignAccessToken': c.connect2.signAccessToken,
        'X-Tesla-Timestamp': timestamp,
        'X-Tesla-Signature': createSign('RSA-SHA256')
          .update(Buffer.concat([body, Buffer.from(timestamp)]))
          .sign(c.connect2.privateKey, 'base64'),
      };
    },
    failure(json, text) {
      const e = exactKeys(json, ['success', 'code', 'message', 'data'], text);
      assert.equal(e.success, false, text);
      assert.equal(e.data, null, text);
      const pattern = CONNECT2_MESSAGES[String(e.code)];
      assert.ok(pattern, `unexpected Connect gen-2 code: ${text}`);
      assert.match(String(e.message), pattern, text);
      return String(e.code);
    },
    success(json, text) {
      const e = exactKeys(json, ['success', 'code', 'message', 'data'], text);
      assert.deepEqual([e.success, e.code, e.message], [true, '000000', 'success'], text);
    },
    // binance-connect-v2.md §3.3: "There is no nonce and (Decision) no replay cache": a repeated request is served
    // again, with the answer its first sending got.
    noReplayCache: true,
    answers: {
      'unknown identity': { http: 200, code: '1130314' },
      'garbled signature': { http: 200, code: '1130303' },
      'signature of other bytes': { http: 200, code: '1130303' },
      'stale timestamp': { http: 200, code: '1130303' },
      'future timestamp': { http: 200, code: '1130303' },
      // §3.3: no replay cache. The good request is sent twice and served twice (an op's own answer overrides this).
      'replayed nonce': { http: 200, code: '000000' },
      // §3.3 has no Content-Type step: the request is served, here refused at the emptied field (see the case).
      'no content type': { http: 200, code: '1130303' },
      // text/plain is read by fastify's own text parser, so the signature is checked over an empty body.
      'wrong content type': { http: 200, code: '1130303' },
      'unparsable content type': { http: 200, code: '1130303' },
      'body over the family limit': { http: 200, code: '1130303' },
      'body over the transport limit': { http: 200, code: '1130303' },
      'non-JSON body': { http: 200, code: '1130303' },
      'NUL in a string field': { http: 200, code: '1130303' },
      'number where a string is expected': { http: 200, code: '1130303' },
      'object where a string is expected': { http: 200, code: '1130303' },
      // §2: a method the op does not serve is HTTP 405 with 1130303 naming `method`.
      'method GET': { http: 405, code: '1130303' },
      'method PUT': { http: 405, code: '1130303' },
      'method DELETE': { http: 405, code: '1130303' },
    },
  },
  kyc: {
    authHeaders: { 'X-SHA2-Signature': { http: 200, code: '10040080' } },
    // No limit of its own: the server's 1 MiB.
    bodyLimit: 1024 * 1024,
    sign(c, body) {
      return {
        'content-type': 'application/json',
        'X-SHA2-Signature': createHmac('sha256', c.kyc.secret).update(body).digest('hex'),
      };
    },
    failure(json, text) {
      const e = exactKeys(json, ['code', 'message', 'messageDetail', 'data', 'success'], text);
      assert.equal(e.success, false, text);
      assert.equal(e.data, null, text);
      assert.equal(typeof e.messageDetail, 'string', text);
      const name = KYC_NAMES[String(e.code)];
      assert.ok(name, `unexpected KYC Sharing code: ${text}`);
      assert.equal(e.message, name, text);
      return String(e.code);
    },
    success(json, text) {
      const e = exactKeys(json, ['code', 'message', 'messageDetail', 'data', 'success'], text);
      assert.deepEqual([e.success, e.code, e.message, e.messageDetail], [true, '000000', null, null], text);
    },
    answers: {
      'unknown identity': { http: 200, code: '000002' },
      'garbled signature': { http: 200, code: '10040080' },
      'signature of other bytes': { http: 200, code: '10040080' },
      'stale timestamp': { notApplicable: 'KYC Sharing signs no timestamp (kyc-sharing.md §1)' },
      'future timestamp': { notApplicable: 'KYC Sharing signs no timestamp (kyc-sharing.md §1)' },
      'replayed nonce': { notApplicable: 'KYC Sharing has no nonce (kyc-sharing.md §1)' },
      'no content type': { http: 200, code: '10040005' },
      'wrong content type': { http: 200, code: '10040005' },
      'unparsable content type': { http: 200, code: '10040005' },
      'body over the family limit': { http: 200, code: '10040005' },
      'body over the transport limit': { http: 200, code: '10040005' },
      'non-JSON body': { http: 200, code: '10040005' },
      'NUL in a string field': { http: 200, code: '000002' },
      'number where a string is expected': { http: 200, code: '000002' },
      'object where a string is expected': { http: 200, code: '000002' },
      'method GET': { http: 200, code: '10040005' },
      'method PUT': { http: 200, code: '10040005' },
      'method DELETE': { http: 200, code: '10040005' },
    },
  },
};

/** A copy of `body` with a dotted path set. */
function withField(body: Body, path: string, value: unknown): Body {
  const out = structuredClone(body);
  const keys = path.split('.');
  let o: Body = out;
  for (const k of keys.slice(0, -1)) o = o[k] as Body;
  o[keys[keys.length - 1] as string] = value;
  return out;
}

/** The endpoint's body with its string field (an extra field `note` where it takes no parameters) set to `value`. */
const fieldBody = (ep: Endpoint, c: Credentials, value: unknown) => withField(ep.body(c), ep.field ?? 'note', value);

/** A good request of the endpoint but for `body` (sent as is) and the given header changes (null: left out). */
function signed(
  ep: Endpoint,
  c: Credentials,
  body: Buffer,
  opts: { timestamp?: string; nonce?: string; method?: string; headers?: Record<string, string | null> } = {},
): Req {
  const method = opts.method ?? 'POST';
  const headers = FAMILIES[ep.family].sign(c, body, { ...opts, method });
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    for (const h of Object.keys(headers)) if (h.toLowerCase() === k.toLowerCase()) delete headers[h];
    if (v !== null) headers[k] = v;
  }
  return { method, headers, body: method === 'GET' ? null : body };
}

/**
 * Changes one character in the middle of a signature, within its alphabet. (Not the last: in base64 the last
 * character before the padding carries unused bits, and a decoder that ignores them reads the same signature.)
 */
const garble = (s: string) => {
  const i = Math.floor(s.length / 2);
  const ch =
    s[i] === 'A'
      ? 'B'
      : s[i] === 'a'
        ? 'b'
        : s[i] === '0'
          ? '1'
          : /[a-z]/.test(s[i] ?? '')
            ? 'a'
            : /[A-Z]/.test(s[i] ?? '')
              ? 'A'
              : '0';
  return s.slice(0, i) + ch + s.slice(i + 1);
};

/** A body whose JSON is exactly `size` bytes: the endpoint's body and an ignored padding field. */
function bodyOfSize(ep: Endpoint, c: Credentials, size: number): Buffer {
  const base = ep.body(c);
  let pad = 0;
  for (;;) {
    const b = J({ zpad: 'x'.repeat(pad), ...base });
    if (b.length === size) return b;
    pad += size - b.length;
  }
}

/** The requests of a case, in order; the answer of the last one is the case's. */
export function requestsOf(id: CaseId, ep: Endpoint, c: Credentials): Req[] {
  const good = () => J(ep.body(c));
  const missing = /^missing header (.+)$/.exec(id);
  if (missing) return [signed(ep, c, good(), { headers: { [missing[1] as string]: null } })];
  const method = /^method (\w+)$/.exec(id);
  if (method) return [signed(ep, c, Buffer.alloc(0), { method: method[1] })];
  switch (id) {
    case 'unknown identity':
      if (ep.family === 'pay')
        return [signed(ep, c, good(), { headers: { 'BinancePay-Certificate-SN': alnum(64).toLowerCase() } })];
      if (ep.family === 'connect')
        return [signed(ep, { ...c, connect: { ...c.connect, merchantCode: 'no_such_partner' } }, good())];
      if (ep.family === 'connect2')
        return [signed(ep, c, good(), { headers: { 'X-Tesla-ClientId': randomBytes(16).toString('hex') } })];
      return [signed(ep, c, J({ ...ep.body(c), bizEntityKey: 'NO_SUCH_BROKER' }))];
    case 'garbled signature': {
      const r = signed(ep, c, good());
      const name = Object.keys(r.headers).find((h) => /signature/i.test(h)) as string;
      r.headers[name] = garble(r.headers[name] as string);
      return [r];
    }
    case 'signature of other bytes': {
      // The signature of the same JSON with a trailing space: a server verifying a re-serialization would accept it.
      const sent = good();
      return [{ ...signed(ep, c, Buffer.concat([sent, Buffer.from(' ')])), body: sent }];
    }
    case 'stale timestamp':
      return [signed(ep, c, good(), { timestamp: String(Date.now() - WINDOW) })];
    case 'future timestamp':
      return [signed(ep, c, good(), { timestamp: String(Date.now() + WINDOW) })];
    case 'replayed nonce': {
      if (FAMILIES[ep.family].noReplayCache) {
        // The same signed request twice (no nonce): the second must get what the first got.
        const first = signed(ep, c, J(ep.replayBody?.(c) ?? ep.body(c)));
        return [first, { ...first, headers: { ...first.headers } }];
      }
      // The first send passes authentication (recording its nonce) and is refused for its content, changing nothing.
      const first = signed(ep, c, J(fieldBody(ep, c, 'a\u0000b')));
      return [first, { ...first, headers: { ...first.headers } }];
    }
    case 'no content type':
      // With the field emptied, so a family that serves the request anyway (Connect) refuses it at the field, writing
      // nothing.
      return [signed(ep, c, J(fieldBody(ep, c, '')), { headers: { 'content-type': null } })];
    case 'wrong content type':
      return [signed(ep, c, good(), { headers: { 'content-type': 'text/plain' } })];
    case 'unparsable content type':
      return [signed(ep, c, good(), { headers: { 'content-type': 'garbage;;;' } })];
    case 'body over the family limit':
      return [signed(ep, c, bodyOfSize(ep, c, FAMILIES[ep.family].bodyLimit + 1))];
    case 'body over the transport limit':
      return [signed(ep, c, bodyOfSize(ep, c, 1024 * 1024 + 1))];
    case 'non-JSON body':
      return [signed(ep, c, good().subarray(0, -1))];
    case 'NUL in a string field':
      return [signed(ep, c, J(fieldBody(ep, c, 'a\u0000b')))];
    case 'number where a string is expected':
      return [signed(ep, c, J(fieldBody(ep, c, 12345)))];
    case 'object where a string is expected':
      return [signed(ep, c, J(fieldBody(ep, c, { a: 'b' })))];
  }
  throw new Error(`no case ${id}`);
}

/** Every case of an endpoint with its answer: the endpoint's own, else its family's. */
export function casesOf(ep: Endpoint): { id: CaseId; answer: Answer }[] {
  const fam = FAMILIES[ep.family];
  const ids: CaseId[] = [...Object.keys(fam.authHeaders).map((h): CaseId => `missing header ${h}`), ...CASE_IDS];
  return ids.map((id) => {
    const own = ep.answers?.[id];
    if (own) return { id, answer: own };
    if (
      (id === 'number where a string is expected' || id === 'object where a string is expected') &&
      ep.field === null
    ) {
      return { id, answer: { notApplicable: 'the endpoint takes no parameters (an extra field is ignored)' } };
    }
    const method = /^method (\w+)$/.exec(id);
    if (method && ep.methods.includes(method[1] as string))
      return { id, answer: { notApplicable: `${method[1]} is a method of the endpoint` } };
    const header = /^missing header (.+)$/.exec(id);
    return {
      id,
      answer: header ? (fam.authHeaders[header[1] as string] as Answer) : fam.answers[id as (typeof CASE_IDS)[number]],
    };
  });
}

export interface Sent {
  status: number;
  contentType: string;
  text: string;
  json: unknown;
}

export async function send(baseUrl: string, path: string, r: Req): Promise<Sent> {
  // A byte body, so fetch adds no Content-Type of its own.
  const res = await fetch(baseUrl + path, {
    method: r.method,
    headers: r.headers,
    body: r.body === null ? undefined : new Uint8Array(r.body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, json };
}

/**
 * Sends a case's requests to an endpoint and asserts the last answer: HTTP status, the family's exact envelope, the
 * code.
 */
export async function runCase(
  baseUrl: string,
  ep: Endpoint,
  id: CaseId,
  c: Credentials,
  answer: { http: number; code: string },
): Promise<void> {
  const reqs = requestsOf(id, ep, c);
  let got: Sent | undefined;
  for (const [i, r] of reqs.entries()) {
    got = await send(baseUrl, ep.path, r);
    if (i < reqs.length - 1 && id === 'replayed nonce' && FAMILIES[ep.family].noReplayCache) {
      // Without a replay cache the first sending gets the answer under test too.
      assert.equal(got.status, answer.http, got.text);
      assert.equal((got.json as { code?: unknown } | undefined)?.code, answer.code, got.text);
    } else if (i < reqs.length - 1) {
      // An earlier step sets the case up: it must not already get the answer under test.
      assert.ok(got.status < 500, got.text);
      assert.notEqual(
        (got.json as { code?: unknown } | undefined)?.code,
        answer.code,
        `step ${i + 1} already answered ${answer.code}: ${got.text}`,
      );
    }
  }
  const last = got as Sent;
  const fam = FAMILIES[ep.family];
  assert.equal(last.status, answer.http, `HTTP ${last.status}: ${last.text.slice(0, 300)}`);
  assert.match(last.contentType, /^application\/json\b/, `Content-Type ${last.contentType}`);
  if (answer.code === '000000') fam.success(last.json, last.text.slice(0, 300));
  else assert.equal(fam.failure(last.json, last.text.slice(0, 300)), answer.code, last.text.slice(0, 300));
}

const ETH_ADDR = '0x52908400098527886E0F7030069857D2E4169EE7';
const goods = {
  goodsType: '01',
  goodsCategory: 'D000',
  referenceGoodsId: '7876763A3B',
  goodsName: 'Ice Cream',
  goodsDetail: 'Vanilla',
};
const v3Order = () => ({
  env: { terminalType: 'WEB' },
  merchantTradeNo: `C${alnum(20)}`,
  orderAmount: '25.17',
  currency: 'USDT',
  description: 'Ice cream',
  goodsDetails: [goods],
});
const connectOrder = () => ({
  merchantOrderId: `c${alnum(20)}`,
  businessType: 'BUY',
  baseCurrency: 'USD',
  fiatCurrency: 'USD',
  cryptoCurrency: 'USDT',
  orderAmount: 50,
  merchantUserId: 'u-8841',
  merchantRedirectUrl: 'https://wallet.example/done',
  withdrawCryptoInfo: { cryptoAddress: ETH_ADDR, cryptoAddressMemo: '', cryptoNetwork: 'ETH' },
  channelInfo: { paymentMethod: 'CARD' },
});
const numberTodo = { http: 200, code: '400100', todo: NUMBER_AS_STRING };
const connectNumberTodo = { http: 200, code: 'OPE100000010', todo: NUMBER_AS_STRING };

const pay = (
  path: string,
  field: string | null,
  body: (c: Credentials) => Body,
  answers?: Endpoint['answers'],
): Endpoint => ({ family: 'pay', path: `${PAY_PREFIX}${path}`, methods: ['POST'], body, field, answers });
const kyc = (op: string, field: string, body: (c: Credentials) => Body): Endpoint => ({
  family: 'kyc',
  path: `${KYC_PREFIX}/${op}`,
  methods: ['POST'],
  body,
  field,
});

/** Connect ops (binance-connect.md §4), each served under both prefixes. */
const CONNECT_OPS: {
  op: string;
  methods: string[];
  field: string | null;
  body: () => Body;
  answers?: Endpoint['answers'];
}[] = [
  {
    op: 'get-crypto-network-list',
    methods: ['GET', 'POST'],
    field: null,
    body: () => ({}),
    answers: { 'no content type': { http: 200, code: '000000' } },
  },
  {
    op: 'get-trade-pair-list',
    methods: ['GET', 'POST'],
    field: null,
    body: () => ({}),
    answers: { 'no content type': { http: 200, code: '000000' } },
  },
  {
    op: 'get-quote',
    methods: ['POST'],
    field: 'fiatCurrency',
    body: () => ({
      fiatCurrency: 'USD',
      cryptoCurrency: 'USDT',
      cryptoNetwork: 'ETH',
      paymentMethod: 'CARD',
      fiatAmount: 100,
    }),
    answers: { 'number where a string is expected': connectNumberTodo },
  },
  {
    op: 'buy-withdraw-crypto',
    methods: ['POST'],
    field: 'merchantOrderId',
    body: connectOrder,
    answers: { 'number where a string is expected': connectNumberTodo },
  },
  {
    op: 'trade',
    methods: ['POST'],
    field: 'merchantOrderId',
    body: connectOrder,
    answers: { 'number where a string is expected': connectNumberTodo },
  },
  {
    op: 'query-order-list',
    methods: ['POST'],
    field: 'merchantOrderId',
    body: () => ({ merchantOrderId: 'no-such-order' }),
    answers: { 'number where a string is expected': connectNumberTodo },
  },
  // "12345" is no IP address: refused, as a number should be.
  { op: 'check-ip-address', methods: ['POST'], field: 'clientUserIp', body: () => ({ clientUserIp: '1.2.3.4' }) },
];

/** Connect gen-2 ops (binance-connect-v2.md §4, §9, §10). */
const C2_V1 = CONNECT2_PREFIXES[0];
const C2_V2 = CONNECT2_PREFIXES[1];
const c2PreOrder = () => ({
  externalOrderId: `c${alnum(20)}`,
  fiatCurrency: 'USD',
  cryptoCurrency: 'USDT',
  amountType: 1,
  requestedAmount: '100',
  network: 'BSC',
  address: ETH_ADDR,
});
/**
 * The lossless number parser hands a string field a number's digits; where those digits are a valid value the
 * op serves it (binance-connect-v2.md §1 accepts numbers for amounts, and says nothing of ids).
 */
const c2NumberTodo = { http: 200, code: '1130303', todo: NUMBER_AS_STRING };
/**
 * text/plain is read by fastify's own text parser, so the op sees an empty body; the good body of a parameter-less op
 * is `{}`, whose signature an empty body also accepts (binance-connect-v2.md §3.2: `"{}" + timestamp`). Nothing is
 * lost: the op takes no parameters.
 */
const C2_TEXT_PLAIN_EMPTY = 'wrong content type';
const c2Unsupported: Endpoint['answers'] = {
  // Ops not served yet answer 1130307 to any authenticated request whose body is empty or a JSON object.
  'no content type': { http: 200, code: '1130307' },
  'replayed nonce': { http: 200, code: '1130307' },
  [C2_TEXT_PLAIN_EMPTY]: { http: 200, code: '1130307' },
};
const c2 = (
  prefix: string,
  op: string,
  methods: string[],
  field: string | null,
  body: () => Body,
  answers?: Endpoint['answers'],
  replayBody?: () => Body,
): Endpoint => ({ family: 'connect2', path: `${prefix}/${op}`, methods, body, field, answers, replayBody });
const c2List: Endpoint['answers'] = {
  'no content type': { http: 200, code: '000000' },
  [C2_TEXT_PLAIN_EMPTY]: { http: 200, code: '000000' },
};
const CONNECT2_ENDPOINTS: Endpoint[] = [
  c2(C2_V1, 'buy/trading-pairs', ['GET', 'POST'], null, () => ({}), c2List),
  c2(C2_V1, 'buy/p2p/trading-pairs', ['GET', 'POST'], 'fiatCurrency', () => ({ fiatCurrency: 'EUR' }), {
    // An emptied optional filter is no filter.
    'no content type': { http: 200, code: '000000' },
    'number where a string is expected': c2NumberTodo,
  }),
  c2(C2_V1, 'crypto-network', ['GET', 'POST'], null, () => ({}), c2List),
  c2(C2_V1, 'buy/payment-method-list', ['POST'], 'fiatCurrency', () => ({
    fiatCurrency: 'USD',
    cryptoCurrency: 'USDT',
    totalAmount: '100',
    amountType: 1,
    network: 'BSC',
  })),
  c2(C2_V1, 'buy/estimated-quote', ['POST'], 'fiatCurrency', () => ({
    fiatCurrency: 'USD',
    cryptoCurrency: 'USDT',
    requestedAmount: '100',
    amountType: 1,
    payMethodCode: 'BUY_CARD',
    network: 'BSC',
  })),
  // A good pre-order creates an order: the replay case repeats one refused for its address.
  ...['buy/pre-order', 'gray/buy/pre-order'].map((op) =>
    c2(C2_V1, op, ['POST'], 'address', c2PreOrder, { 'replayed nonce': { http: 200, code: '1130303' } }, () => ({
      ...c2PreOrder(),
      address: 'not-an-address',
    })),
  ),
  c2(C2_V1, 'order', ['POST'], 'externalOrderId', () => ({ externalOrderId: 'nosuchorder' }), {
    'replayed nonce': { http: 200, code: '1130306' },
    'number where a string is expected': c2NumberTodo,
  }),
  // A SEND order is refused (1130307) after every field check, so nothing is placed.
  c2(
    C2_V1,
    'sandbox/place-order',
    ['POST'],
    'type',
    () => ({
      externalOrderId: `c${alnum(20)}`,
      fiatCurrency: 'USD',
      cryptoCurrency: 'USDT',
      requestedAmount: '100',
      amountType: 1,
      type: 'SEND',
    }),
    { 'replayed nonce': { http: 200, code: '1130307' } },
  ),
  c2(
    C2_V1,
    'sandbox/order-status-transition',
    ['POST'],
    'externalOrderId',
    () => ({ externalOrderId: 'nosuchorder', targetStatus: 20 }),
    { 'replayed nonce': { http: 200, code: '1130306' }, 'number where a string is expected': c2NumberTodo },
  ),
  ...[
    'sell/trading-pairs',
    'sell/payment-method-list',
    'sell/estimated-quote',
    'sell/pre-order',
    'deposit/initiate',
    'deposit/authorization',
    'deposit/report',
  ].map((op) => c2(C2_V1, op, ['POST'], null, () => ({}), c2Unsupported)),
  c2(C2_V2, 'buy/payment-method-list', ['GET', 'POST'], 'language', () => ({ language: 'en' }), {
    // An emptied optional language is the default one.
    'no content type': { http: 200, code: '000000' },
    'number where a string is expected': c2NumberTodo,
  }),
  c2(C2_V2, 'sell/payment-method-list', ['POST'], null, () => ({}), c2Unsupported),
];

/**
 * Every signed endpoint of every family. A new endpoint joins here, or the route-table test fails.
 * Pay merchantId fields are left out of the type cases: a JSON number there is accepted on purpose
 * (src/tsp/schemas.ts).
 */
export const ENDPOINTS: Endpoint[] = [
  // src/pay/routes.ts
  pay('/v3/order', 'merchantTradeNo', v3Order, { 'number where a string is expected': numberTodo }),
  pay('/v2/order', 'merchantTradeNo', () => ({ ...v3Order(), goodsDetails: undefined, goods }), {
    'number where a string is expected': numberTodo,
  }),
  pay(
    '/order',
    'merchantTradeNo',
    (c) => ({
      merchantId: c.pay.merchantId,
      merchantTradeNo: `C${alnum(20)}`,
      tradeType: 'WEB',
      totalFee: '1.00',
      currency: 'USDT',
      productType: 'Food',
      productName: 'Ice',
    }),
    { 'number where a string is expected': numberTodo },
  ),
  pay('/v2/order/query', 'merchantTradeNo', () => ({ merchantTradeNo: 'no-such-order' }), {
    'number where a string is expected': numberTodo,
  }),
  pay('/order/query', 'merchantTradeNo', (c) => ({ merchantId: c.pay.merchantId, merchantTradeNo: 'no-such-order' }), {
    'number where a string is expected': numberTodo,
  }),
  pay('/order/close', 'merchantTradeNo', () => ({ merchantTradeNo: 'no-such-order' }), {
    'number where a string is expected': numberTodo,
  }),
  pay('/certificates', null, () => ({})),
  pay('/v2/balance', 'wallet', () => ({ wallet: 'FUNDING_WALLET' }), {
    'number where a string is expected': numberTodo,
  }),
  pay('/balance', 'currency', () => ({ currency: 'USDT' }), { 'number where a string is expected': numberTodo }),
  // src/pay/refunds/routes.ts
  pay(
    '/order/refund',
    'refundRequestId',
    () => ({ refundRequestId: `r${alnum(20)}`, prepayId: '1', refundAmount: '1' }),
    { 'number where a string is expected': numberTodo },
  ),
  pay('/order/refund/query', 'refundRequestId', () => ({ refundRequestId: 'no-such-refund' }), {
    'number where a string is expected': numberTodo,
  }),
  // Wallet transfers and sub-merchants (binance-pay-extended.md §11, §12)
  pay(
    '/wallet/transfer',
    'requestId',
    () => ({ requestId: alnum(20), currency: 'USDT', amount: '1', transferType: 'TO_MAIN' }),
    { 'number where a string is expected': numberTodo },
  ),
  pay('/wallet/transfer/query', 'tranId', () => ({ tranId: 'nosuchtransfer' }), {
    'number where a string is expected': numberTodo,
  }),
  // The caller is no channel partner: a well-formed request is 400203 (binance-pay-extended.md §9.1).
  pay(
    '/submerchant/add',
    'merchantName',
    () => ({ merchantName: `Shop ${alnum(8)}`, merchantMcc: '1040', siteUrl: 'https://shop.example' }),
    { 'number where a string is expected': numberTodo },
  ),
  pay(
    '/submerchant/modify',
    'merchantName',
    () => ({ subMerchantId: '2107268400000001', merchantName: 'Shop', storeType: 0, merchantMcc: '1040' }),
    { 'number where a string is expected': numberTodo },
  ),
  pay('/submerchant/query', 'subMerchantName', () => ({ subMerchantName: 'no-such-shop' }), {
    'number where a string is expected': numberTodo,
  }),
  // Payouts (binance-pay-extended.md §10)
  pay(
    '/payout/transfer',
    'requestId',
    () => ({
      requestId: alnum(20),
      batchName: 'conformance',
      currency: 'USDT',
      totalAmount: '1',
      totalNumber: 1,
      transferDetailList: [
        {
          merchantSendId: 's1',
          receiveType: 'BINANCE_ID',
          receiver: '1000140001234',
          transferAmount: '1',
          transferMethod: 'FUNDING_WALLET',
        },
      ],
    }),
    { 'number where a string is expected': numberTodo },
  ),
  pay('/payout/query', 'requestId', () => ({ requestId: 'nosuchpayout' }), {
    'number where a string is expected': numberTodo,
  }),
  pay(
    '/payout/receiver/check',
    'receiverId',
    () => ({ receiveType: 'BINANCE_ID', receiverId: '1000140001234', registrationEmail: 'a@example.com' }),
    { 'number where a string is expected': numberTodo },
  ),
  // Reports (binance-pay-extended.md §13)
  pay(
    '/report/get-file',
    'reportType',
    () => ({ reportType: 'Transaction', transactionType: 'Payment', startDate: '01/08/2023', endDate: '15/08/2023' }),
    { 'number where a string is expected': numberTodo },
  ),
  pay(
    '/balance-report',
    'reportType',
    () => ({ reportType: 'Balance', walletType: 'FUNDING_WALLET', startDate: '2022-08-20', endDate: '2022-09-05' }),
    { 'number where a string is expected': numberTodo },
  ),
  pay('/balance-report/query', 'downloadId', () => ({ downloadId: '197620356272996352' }), {
    'number where a string is expected': numberTodo,
  }),
  // Direct debit (binance-pay-extended.md §14)
  pay(
    '/direct-debit/contract',
    'merchantContractCode',
    () => ({
      merchantContractCode: alnum(20),
      serviceName: 'Gym',
      scenarioCode: 'Membership',
      singleUpperLimit: '10',
      currency: 'USDT',
      periodic: false,
    }),
    { 'number where a string is expected': numberTodo },
  ),
  pay('/direct-debit/contract/query', 'merchantContractCode', () => ({ merchantContractCode: 'nosuchcontract' }), {
    'number where a string is expected': numberTodo,
  }),
  pay(
    '/direct-debit/contract/termination',
    'merchantContractCode',
    () => ({ merchantContractCode: 'nosuchcontract' }),
    { 'number where a string is expected': numberTodo },
  ),
  pay(
    '/pay/notify',
    'merchantRequestId',
    () => ({
      merchantRequestId: alnum(20),
      tradeMode: 'DIRECT_DEBIT',
      bizId: '4503599627380012',
      estimatedAmount: '1',
      currency: 'USDT',
    }),
    { 'number where a string is expected': numberTodo },
  ),
  pay(
    '/pay/apply',
    'merchantRequestId',
    () => ({
      merchantRequestId: alnum(20),
      tradeMode: 'DIRECT_DEBIT',
      bizId: '4503599627380012',
      amount: '1',
      currency: 'USDT',
      productName: 'Gym',
    }),
    { 'number where a string is expected': numberTodo },
  ),
  // Convert (§15)
  pay('/otc-portal/get-to-selector', 'fromAsset', () => ({ fromAsset: 'USDT' }), {
    'number where a string is expected': numberTodo,
  }),
  pay(
    '/otc-portal/get-quote',
    'fromAsset',
    () => ({ wallet: 'FUNDING_WALLET', fromAsset: 'USDT', toAsset: 'BNB', fromAmount: '1' }),
    { 'number where a string is expected': numberTodo },
  ),
  pay('/otc-portal/execute-quote', 'quoteId', () => ({ quoteId: 'e53bb5ea9a384277b4ed971235816a9f' }), {
    'number where a string is expected': numberTodo,
  }),
  // The published sample sends orderId as a number: accepted on purpose (§15.4).
  pay('/otc-portal/query-trade-order', 'orderId', () => ({ orderId: '1309477640981204290' }), {
    'number where a string is expected': { notApplicable: 'orderId is accepted as a number (§15.4)' },
  }),
  // Profit sharing (§16)
  pay(
    '/profitsharing/v1/add-receiver',
    'account',
    () => ({ receiverList: [{ account: '1000140001234', accountType: 'BINANCE_ID' }] }),
    { 'number where a string is expected': { notApplicable: 'the account is inside receiverList' } },
  ),
  pay('/profitsharing/v1/query-receiver', null, () => ({})),
  pay('/profitsharing/v1/del-receiver', 'account', () => ({ receiverList: [{ account: '1000140001234' }] }), {
    'number where a string is expected': { notApplicable: 'the account is inside receiverList' },
  }),
  pay(
    '/profitsharing/v1/submit-split',
    'merchantRequestId',
    () => ({
      merchantRequestId: alnum(20),
      prepayOrderId: '376823612387012608',
      receiverList: [{ account: '1000140001234', amount: '1', description: 'split' }],
    }),
    { 'number where a string is expected': numberTodo },
  ),
  pay(
    '/profitsharing/v1/query-split',
    'merchantRequestId',
    () => ({ merchantRequestId: 'nosuchsplit', prepayOrderId: '376823612387012608' }),
    { 'number where a string is expected': numberTodo },
  ),
  pay(
    '/profitsharing/v1/return',
    'merchantReturnNo',
    () => ({
      prepayOrderId: '376823612387012608',
      splitOrderNo: '224313347535298560',
      merchantReturnNo: alnum(20),
      transferOutAccount: '1000140001234',
      returnAmount: '1',
    }),
    { 'number where a string is expected': numberTodo },
  ),
  // Payer verification and share account id (§17.1, §17.2)
  pay('/order/payer/verification', 'binanceId', () => ({ binanceId: '1000140001234', payerType: 'INDIVIDUAL' }), {
    'number where a string is expected': numberTodo,
  }),
  pay('/shareinfo/accountId', 'requestId', () => ({ requestId: alnum(20) }), {
    'number where a string is expected': numberTodo,
  }),
  // src/tsp/routes.ts, called by a merchant that is not a TSP: a well-formed request is 400203.
  pay('/service/provider/config/query', null, () => ({})),
  pay(
    '/service/provider/create',
    'scopes.0',
    () => ({ merchantId: '1000000000001', scopes: ['CHECKOUT'], ipWhitelist: [] }),
    { 'number where a string is expected': numberTodo },
  ),
  pay('/service/provider/record', 'page', () => ({ page: '1', rows: '10' }), {
    // page is an int on the wire (binance-pay.md §7.6): a number is what it should be.
    'number where a string is expected': { notApplicable: 'page is an integer field' },
  }),
  pay('/service/provider/record/get', 'authorizationId', () => ({ authorizationId: '100000000000000001' }), {
    'number where a string is expected': numberTodo,
  }),
  // src/connect/routes.ts
  ...CONNECT_PREFIXES.flatMap((prefix) =>
    CONNECT_OPS.map((o): Endpoint => ({
      family: 'connect',
      path: `${prefix}/${o.op}`,
      methods: o.methods,
      body: o.body,
      field: o.field,
      answers: o.answers,
    })),
  ),
  // src/connect/v2/routes.ts
  ...CONNECT2_ENDPOINTS,
  // src/kyc/routes.ts
  kyc('share-kyc-data', 'requestNo', (c) => ({
    bizEntityKey: c.kyc.bizEntityKey,
    requestNo: `r${alnum(20)}`,
    kycInfo: {
      userInfo: {
        bizEntityKey: c.kyc.bizEntityKey,
        entityCustomerId: 'c1',
        brokerMainAccountId: '1234567',
        brokerSubAccountId: '7654321',
        notifyUrl: '.',
      },
    },
  })),
  kyc('query-share-data-status', 'entityCustomerId', (c) => ({
    bizEntityKey: c.kyc.bizEntityKey,
    entityCustomerId: 'c1',
    requestNo: 'r1',
  })),
  kyc('check-kyc-status', 'entityCustomerId', (c) => ({
    bizEntityKey: c.kyc.bizEntityKey,
    entityCustomerId: 'c1',
    kycType: 'USER',
    brokerMainAccountId: '1',
    brokerSubAccountId: '2',
  })),
];

/**
 * The paths of a fastify route table (`printRoutes({ commonPrefix: false })`): a line is a node of the tree,
 * its segment appended to its parent's; nodes without methods and wildcards are left out.
 */
export function routePaths(printed: string): string[] {
  const stack: string[] = [];
  const out = new Set<string>();
  for (const line of printed.split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = (m[1] as string).length / 4;
    const full = (depth ? (stack[depth - 1] ?? '') : '') + (m[2] as string);
    stack[depth] = full;
    stack.length = depth + 1;
    if (m[3] && !full.includes('*')) out.add(full);
  }
  return [...out].sort();
}
