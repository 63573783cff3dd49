/** Binance Pay result codes and their wire messages (binance-pay.md §8), and the one table mapping domain errors to them. */
export const PAY_MESSAGES: Record<string, string> = {
  '400000': 'An unknown error occurred while processing the request.',
  '400001': "Parameter format is wrong or parameter transferring doesn't follow the rules.",
  '400002': 'Signature for this request is not valid.',
  '400003': 'Timestamp for this request is outside of the recvWindow.',
  '400004': 'API identity key not found or invalid.',
  '400005': 'API identity key format invalid.',
  '400006': 'Request method not supported.',
  '400007': 'Media type not supported.',
  '400008': 'Request body is not a valid json object.',
  '400100': 'A parameter was missing/empty/null, or malformed.',
  '400101': 'A parameter was not valid, was empty/null, or too long/short, or wrong format.',
  '400102': 'A parameter was not valid, the value is out of range.',
  '400103': 'A parameter was not valid, contains illegal characters',
  '400104': 'Invalid request, content length too large',
  '400201': 'merchantTradeNo is invalid or duplicated.',
  '400202': 'Order not found.',
  '400203': 'Not support for this account, please check account status.',
  '400204': 'Order status is not valid for this operation.',
  '400205': 'Sub-merchant already exists.',
  '400206': 'Sub-merchant does not exist or is unavailable.',
  '400301': 'Invalid prepayId.',
  '400302': 'Refund attempts more than 10 times.',
  '400303': 'Refund amount greater than remaining amount.',
  '400304': 'Merchant balance not enough to refund.',
  '406210': 'Invalid merchant id',
};

/** Domain error code → Pay wire code. Validation errors already carry their wire code. */
export const PAY_CODE_OF: Record<string, string> = {
  NONCE_USED: '400001',
  ORDER_NOT_FOUND: '400202',
  REFUND_NOT_FOUND: '400202',
  DUPLICATE_TRADE_NO: '400201',
  INVALID_ORDER_STATUS: '400204',
  SUB_MERCHANT_INVALID: '400206',
  INVALID_PREPAY_ID: '400301',
  TOO_MANY_REFUND_ATTEMPTS: '400302',
  INVALID_REFUND_AMOUNT: '400303',
  INSUFFICIENT_FUNDS: '400304',
  ACCOUNT_STATUS: '400203',
  MERCHANT_NOT_FOUND: '406210',
  FIELD_MISSING: '400100',
  FIELD_FORMAT: '400101',
  FIELD_VALUE: '400102',
  FIELD_CHARS: '400103',
};

export interface PayFailure {
  code: string;
  message: string;
}

export function payFailure(code: string, message?: string): PayFailure {
  const wire = /^\d{6}$/.test(code) ? code : (PAY_CODE_OF[code] ?? '400000');
  return { code: wire, message: (message ?? PAY_MESSAGES[wire] ?? PAY_MESSAGES['400000']).slice(0, 256) };
}
