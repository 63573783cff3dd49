import { stringify } from '../platform/json.ts';

/**
 * Binance Connect result codes and messages (binance-connect.md §8), and the one table mapping domain errors to them.
 */
export const CONNECT_MESSAGES = {
  OPE100000001: 'System error, please try again later.',
  OPE100000002: 'Signature verification failed.',
  OPE100000003: 'Request timestamp is outside the allowed window.',
  OPE100000004: 'Unknown merchantCode.',
  OPE100000005: 'Request IP is not whitelisted.',
  OPE100000006: 'Business partner is disabled.',
  OPE100000007: 'Missing merchantCode, timestamp or x-api-signature header.',
  OPE100000010: 'The parameter {name} is illegal.',
  OPE100000011: 'The parameter {name} is required.',
  OPE100000020: 'Trade pair is not supported.',
  OPE100000021: 'Network is not supported for this crypto.',
  OPE100000022: 'Invalid crypto address.',
  OPE100000023: 'Memo is missing or invalid.',
  OPE100000024: 'Payment method is not supported.',
  OPE100000025: 'Service is not available in this region.',
  OPE100000031: 'Order amount is out of the limits.',
  OPE100000032: 'Crypto amount is outside the network withdrawal limits.',
  OPE100000040: 'Order not found.',
  OPE100000041: 'Duplicate merchantOrderId.',
  OPE100000050: 'Too many requests.',
} as const satisfies Record<string, string>;
type ConnectWireCode = keyof typeof CONNECT_MESSAGES;

/** Every error the Connect API answers with; the table below must map each (an unmapped one does not compile). */
export type ConnectDomainError =
  | 'SYSTEM_ERROR'
  | 'INVALID_SIGNATURE'
  | 'TIMESTAMP_EXPIRED'
  | 'MERCHANT_NOT_FOUND'
  | 'IP_NOT_WHITELISTED'
  | 'MERCHANT_DISABLED'
  | 'MISSING_HEADER'
  | 'INVALID_PARAMETER'
  | 'MISSING_PARAMETER'
  | 'UNSUPPORTED_TRADE_PAIR'
  | 'UNSUPPORTED_NETWORK'
  | 'INVALID_CRYPTO_ADDRESS'
  | 'INVALID_ADDRESS_MEMO'
  | 'UNSUPPORTED_PAYMENT_METHOD'
  | 'REGION_RESTRICTED'
  | 'AMOUNT_OUT_OF_LIMIT'
  | 'WITHDRAW_AMOUNT_OUT_OF_LIMIT'
  | 'ORDER_NOT_FOUND'
  | 'DUPLICATE_MERCHANT_ORDER_ID'
  | 'TOO_MANY_REQUESTS';

/** Domain error code → wire code. */
const CONNECT_CODE_OF: Record<ConnectDomainError, ConnectWireCode> = {
  SYSTEM_ERROR: 'OPE100000001',
  INVALID_SIGNATURE: 'OPE100000002',
  TIMESTAMP_EXPIRED: 'OPE100000003',
  MERCHANT_NOT_FOUND: 'OPE100000004',
  IP_NOT_WHITELISTED: 'OPE100000005',
  MERCHANT_DISABLED: 'OPE100000006',
  MISSING_HEADER: 'OPE100000007',
  INVALID_PARAMETER: 'OPE100000010',
  MISSING_PARAMETER: 'OPE100000011',
  UNSUPPORTED_TRADE_PAIR: 'OPE100000020',
  UNSUPPORTED_NETWORK: 'OPE100000021',
  INVALID_CRYPTO_ADDRESS: 'OPE100000022',
  INVALID_ADDRESS_MEMO: 'OPE100000023',
  UNSUPPORTED_PAYMENT_METHOD: 'OPE100000024',
  REGION_RESTRICTED: 'OPE100000025',
  AMOUNT_OUT_OF_LIMIT: 'OPE100000031',
  WITHDRAW_AMOUNT_OUT_OF_LIMIT: 'OPE100000032',
  ORDER_NOT_FOUND: 'OPE100000040',
  DUPLICATE_MERCHANT_ORDER_ID: 'OPE100000041',
  TOO_MANY_REQUESTS: 'OPE100000050',
};

export interface ConnectFailure {
  code: ConnectWireCode;
  message: string;
  messageDetail: string | null;
}

/**
 * A failure for a domain code. Parameter errors name the field in `message` ({name}) and explain in
 * `messageDetail`; every other failure has the fixed message and an optional detail.
 */
export function connectFailure(
  domainCode: ConnectDomainError,
  opts: { field?: string; detail?: string } = {},
): ConnectFailure {
  const code = CONNECT_CODE_OF[domainCode];
  const template = CONNECT_MESSAGES[code];
  if (template === undefined) throw new Error(`no message for Connect code ${code}`);
  const message = template.replace('{name}', opts.field ?? 'request');
  return { code, message, messageDetail: opts.detail ?? null };
}

type ConnectResult = { data: unknown } | ConnectFailure;

/** The Connect envelope (§2); `successCode` is the partner's setting ("000000" or "000000000"). */
export function connectEnvelope(r: ConnectResult, successCode = '000000'): string {
  if ('data' in r)
    return (
      `{"success":true,"code":${JSON.stringify(successCode)},"message":null,"messageDetail":null,` +
      `"data":${stringify(r.data)}}`
    );
  return stringify({ success: false, code: r.code, message: r.message, messageDetail: r.messageDetail, data: null });
}
