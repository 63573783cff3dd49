import { createVerify } from 'node:crypto';
import type { PayClient } from '../helpers.ts';

/**
 * An independent Binance Pay webhook verifier written from binance-pay.md §4.7/§6 alone, the way an integrator
 * would: it imports nothing of Rampart's signing code. Key from `/certificates` (re-fetched when the header
 * serial differs), signature over `ts\nnonce\nrawBody\n`, `bizId` read from the raw text, never via Number.
 */
export interface VerifiedPayWebhook {
  bizType: string;
  /** The raw integer literal of `bizId` as it appears in the body. */
  bizIdRaw: string;
  bizIdStr: string;
  bizStatus: string;
  /**
   * The `data` field's content exactly as sent: the JSON text inside the string, or for an event whose data is an
   * object (MERCHANT_QR_CODE) the object's own text in the body.
   */
  dataText: string;
  /** `string` for every Pay event but those of OBJECT_DATA_EVENTS. */
  dataKind: 'string' | 'object';
  data: Record<string, any>;
}

/**
 * Events whose `data` is a JSON object rather than a JSON-encoded string: the published MERCHANT_QR_CODE table
 * (binance-pay-extended.md §17.3). Any other event with object data is refused.
 */
const OBJECT_DATA_EVENTS = new Set(['MERCHANT_QR_CODE']);

const header = (headers: Record<string, string | string[] | undefined>, name: string) => {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

export function createPayWebhookVerifier(client: PayClient) {
  let cert: { certSerial: string; certPublic: string } | null = null;

  async function fetchCertificate() {
    const r = await client.post('/certificates', {});
    if (r.json?.status !== 'SUCCESS' || !Array.isArray(r.json.data) || r.json.data.length !== 1)
      throw new Error(`certificates: ${r.text}`);
    cert = r.json.data[0];
    return cert!;
  }

  /** Throws unless the webhook is authentic and well formed. */
  async function verify(
    headers: Record<string, string | string[] | undefined>,
    rawBody: Buffer,
  ): Promise<VerifiedPayWebhook> {
    const ts = header(headers, 'BinancePay-Timestamp');
    const nonce = header(headers, 'BinancePay-Nonce');
    const sn = header(headers, 'BinancePay-Certificate-SN');
    const sig = header(headers, 'BinancePay-Signature');
    if (header(headers, 'Content-Type') !== 'application/json') throw new Error('Content-Type is not application/json');
    if (!ts || !/^\d{13}$/.test(ts)) throw new Error(`bad timestamp ${ts}`);
    if (!nonce || !/^[A-Za-z0-9]{32}$/.test(nonce)) throw new Error(`bad nonce ${nonce}`);
    if (!sn || !sig) throw new Error('missing certificate serial or signature');
    const key = cert && cert.certSerial === sn ? cert : await fetchCertificate();
    if (key.certSerial !== sn)
      throw new Error(`Certificate-SN ${sn} is not the published certSerial ${key.certSerial}`);
    const text = rawBody.toString('utf8');
    const ok = createVerify('RSA-SHA256').update(`${ts}\n${nonce}\n${text}\n`).verify(key.certPublic, sig, 'base64');
    if (!ok) throw new Error('signature does not verify');

    const m = /^\{"bizType":"([A-Z_]+)","bizId":(\d+),"bizIdStr":"(\d+)","bizStatus":"([A-Z_]+)","data":/.exec(text);
    if (!m) throw new Error(`body does not have the §6.2 shape: ${text.slice(0, 200)}`);
    const [, bizType = '', bizIdRaw = '', bizIdStr = '', bizStatus = ''] = m; // every group takes part in a match
    if (bizIdRaw !== bizIdStr) throw new Error(`bizId ${bizIdRaw} differs from bizIdStr ${bizIdStr}`);
    const parsed = JSON.parse(text);
    if (OBJECT_DATA_EVENTS.has(bizType)) {
      if (parsed.data === null || typeof parsed.data !== 'object' || Array.isArray(parsed.data))
        throw new Error(`${bizType}: data is not a JSON object`);
      // `data` is the body's last field: its text runs from after the prefix to the closing brace.
      const dataText = text.slice(m[0].length, -1);
      if (!dataText.startsWith('{') || JSON.stringify(JSON.parse(dataText)) !== JSON.stringify(parsed.data))
        throw new Error(`${bizType}: data is not the last field of the body`);
      return { bizType, bizIdRaw, bizIdStr, bizStatus, dataKind: 'object', dataText, data: parsed.data };
    }
    if (typeof parsed.data !== 'string') throw new Error('data is not a JSON string');
    return {
      bizType,
      bizIdRaw,
      bizIdStr,
      bizStatus,
      dataKind: 'string',
      dataText: parsed.data,
      data: JSON.parse(parsed.data),
    };
  }

  return { verify, fetchCertificate, cachedSerial: () => cert?.certSerial ?? null };
}
