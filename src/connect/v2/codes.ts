import { stringify } from '../../platform/json.ts';

/**
 * Generation 2's result codes (binance-connect-v2.md §11): the published 1130xxx table plus Rampart's two additions,
 * and the one table mapping domain errors to them. `{param}` names the offending field or header.
 */
export const GEN2_MESSAGES = {
  '1130101': 'System error',
  '1130102': 'System busy. Please try again later',
  '1130303': 'The parameter {param} is illegal',
  '1130304': 'Missing client id from request',
  '1130305': 'The partner is disabled',
  '1130306': 'Can not find the order',
  '1130307': 'Unsupported order type',
  '1130311': 'Request IP is not whitelisted',
  '1130312': 'Duplicate externalOrderId',
  '1130314': 'Can not find the partner',
  '1130320': 'Not support quote for this payment method',
  '1130326': 'The value of customization {param} is illegal.',
  '1130327': 'Swap token not found.',
  '1130329': 'Swap network not support',
  '1130330': 'Swap token not matched {0}',
} as const satisfies Record<string, string>;
export type Gen2WireCode = keyof typeof GEN2_MESSAGES;

export type Gen2DomainError =
  | 'SYSTEM_ERROR'
  | 'SYSTEM_BUSY'
  | 'ILLEGAL_PARAMETERS'
  | 'MISSING_CLIENT_ID'
  | 'PARTNER_IS_DISABLED'
  | 'ORDER_NOT_FOUND'
  | 'UNSUPPORTED_ORDER_TYPE'
  | 'IP_NOT_WHITELISTED'
  | 'DUPLICATE_EXTERNAL_ORDER_ID'
  | 'PARTNER_IS_NOT_FOUND'
  | 'NOT_SUPPORT_QUOTE_FOR_PAYMENT_METHOD'
  | 'ILLEGAL_CUSTOMIZATION_VALUE'
  | 'SWAP_TOKEN_NOT_FOUND'
  | 'SWAP_NETWORK_NOT_SUPPORT'
  | 'SWAP_TOKEN_NOT_MATCHED';

const GEN2_CODE_OF: Record<Gen2DomainError, Gen2WireCode> = {
  SYSTEM_ERROR: '1130101',
  SYSTEM_BUSY: '1130102',
  ILLEGAL_PARAMETERS: '1130303',
  MISSING_CLIENT_ID: '1130304',
  PARTNER_IS_DISABLED: '1130305',
  ORDER_NOT_FOUND: '1130306',
  UNSUPPORTED_ORDER_TYPE: '1130307',
  IP_NOT_WHITELISTED: '1130311',
  DUPLICATE_EXTERNAL_ORDER_ID: '1130312',
  PARTNER_IS_NOT_FOUND: '1130314',
  NOT_SUPPORT_QUOTE_FOR_PAYMENT_METHOD: '1130320',
  ILLEGAL_CUSTOMIZATION_VALUE: '1130326',
  SWAP_TOKEN_NOT_FOUND: '1130327',
  SWAP_NETWORK_NOT_SUPPORT: '1130329',
  SWAP_TOKEN_NOT_MATCHED: '1130330',
};

export interface Gen2Failure {
  code: Gen2WireCode;
  message: string;
}

/** A failure for a domain code; `param` fills {param} (and {0}). */
export function gen2Failure(domainCode: Gen2DomainError, param?: string): Gen2Failure {
  const code = GEN2_CODE_OF[domainCode];
  const message = GEN2_MESSAGES[code].replace('{param}', param ?? 'request').replace('{0}', param ?? '');
  return { code, message };
}

/** §2: `{success, code, message, data}`; "000000" and "success" on success, `data` null on failure. */
export function gen2Envelope(r: { data: unknown } | Gen2Failure): string {
  if ('data' in r) return `{"success":true,"code":"000000","message":"success","data":${stringify(r.data)}}`;
  return stringify({ success: false, code: r.code, message: r.message, data: null });
}
