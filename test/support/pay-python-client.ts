import { createHmac, randomUUID } from 'node:crypto';

/**
 * A client that calls the Pay API the way Binance's official Python connector does
 * (binance/binance-pay-connector-python: binance/pay/api.py, binance/pay/merchant.py), written from its source:
 * - the body is Python's `json.dumps(payload)`: `", "` and `": "` separators, non-ASCII escaped as \uXXXX,
 *   floats in Python's repr (`200.0`, `0.02`), ints as ints; the same text is signed and sent;
 * - the payload signed is `timestamp + "\n" + nonce + "\n" + json.dumps(payload) + "\n"`, HMAC-SHA512, hex upper-case;
 * - the nonce is the first 32 characters of a dash-less uuid4; Content-Type is `application/json;charset=utf-8`;
 * - every method is a POST to the path the connector names, with its parameter names.
 * The connector itself is not part of the project; this is the same wire behaviour, in TypeScript.
 */

/** A Python float (json.dumps writes it with a decimal point even when integral). */
export class PyFloat {
  constructor(readonly value: number) {}
}
export const pyFloat = (v: number) => new PyFloat(v);

/** Python's json.dumps with default arguments (ensure_ascii=True, separators (', ', ': ')). */
export function pyJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`a JS number given to pyJsonDumps must be an int: ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return pyString(value);
  if (Array.isArray(value)) return `[${value.map(pyJsonDumps).join(', ')}]`;
  if (typeof value === 'object')
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${pyString(k)}: ${pyJsonDumps(v)}`)
      .join(', ')}}`;
  throw new Error(`not JSON: ${typeof value}`);
}

function pyFloatRepr(v: number): string {
  const s = String(v);
  if (/e/.test(s)) throw new Error(`exponent forms differ between JS and Python; use another value: ${s}`);
  return Number.isInteger(v) ? `${s}.0` : s;
}

function pyString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || (c >= 0x7f && c <= 0xffff)) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c > 0xffff) {
      const v = c - 0x10000;
      out += `\\u${(0xd800 + (v >> 10)).toString(16)}\\u${(0xdc00 + (v & 0x3ff)).toString(16)}`;
    } else out += ch;
  }
  return out + '"';
}

export interface PyResponse {
  status: string;
  code: string;
  data: any;
  errorMessage: string | null;
}

/** binance.pay.merchant.Merchant, method for method. */
export function pythonConnectorMerchant(key: string, secret: string, baseUrl: string) {
  async function sendSignedRequest(path: string, payload: Record<string, unknown>): Promise<PyResponse> {
    const timestamp = Date.now();
    const nonce = randomUUID().replaceAll('-', '').slice(0, 32);
    const body = pyJsonDumps(payload);
    const signature = createHmac('sha512', secret)
      .update(`${timestamp}\n${nonce}\n${body}\n`, 'utf8')
      .digest('hex')
      .toUpperCase();
    const res = await fetch(baseUrl + path, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json;charset=utf-8',
        'User-Agent': 'binance-pay-connector/1.0.0',
        'BinancePay-Timestamp': String(timestamp),
        'BinancePay-Nonce': nonce,
        'BinancePay-Certificate-SN': key,
        'BinancePay-Signature': signature,
      },
      body,
    });
    return (await res.json()) as PyResponse;
  }

  return {
    new_order: (params: Record<string, unknown>) => sendSignedRequest('/binancepay/openapi/v2/order', params),
    get_order: (kwargs: { prepayId?: string; merchantTradeNo?: string }) =>
      sendSignedRequest('/binancepay/openapi/v2/order/query', kwargs),
    cancel_order: (kwargs: { prepayId?: string; merchantTradeNo?: string }) =>
      sendSignedRequest('/binancepay/openapi/order/close', kwargs),
    transfer_fund: (requestId: string, currency: string, amount: string, transferType: string, kwargs = {}) =>
      sendSignedRequest('/binancepay/openapi/wallet/transfer', {
        requestId,
        currency,
        amount,
        transferType,
        ...kwargs,
      }),
    get_transfer_result: (tranId: string, kwargs = {}) =>
      sendSignedRequest('/binancepay/openapi/wallet/transfer/query', { tranId, ...kwargs }),
    new_sub_merchant: (
      merchantName: string,
      merchantType: number,
      merchantMcc: string,
      country: string,
      kwargs: Record<string, unknown> = {},
    ) =>
      sendSignedRequest('/binancepay/openapi/submerchant/add', {
        merchantName,
        merchantType,
        merchantMcc,
        country,
        ...kwargs,
      }),
    refund_order: (refundRequestId: string, prepayId: string, refundAmount: PyFloat, kwargs = {}) =>
      sendSignedRequest('/binancepay/openapi/order/refund', { refundRequestId, prepayId, refundAmount, ...kwargs }),
    get_refund_order: (refundRequestId: string, kwargs = {}) =>
      sendSignedRequest('/binancepay/openapi/order/refund/query', { refundRequestId, ...kwargs }),
    batch_payout: (
      requestId: string,
      batchName: string,
      currency: string,
      totalAmount: PyFloat,
      totalNumber: number,
      transferDetailList: Record<string, unknown>[],
      kwargs: Record<string, unknown> = {},
    ) =>
      sendSignedRequest('/binancepay/openapi/payout/transfer', {
        requestId,
        batchName,
        currency,
        totalAmount,
        totalNumber,
        transferDetailList,
        ...kwargs,
      }),
    get_wallet_balance: (wallet: string, currency: string, kwargs = {}) =>
      sendSignedRequest('/binancepay/openapi/balance', { wallet, currency, ...kwargs }),
    get_payout: (requestId: string, kwargs: Record<string, unknown> = {}) =>
      sendSignedRequest('/binancepay/openapi/payout/query', { requestId, ...kwargs }),
  };
}
