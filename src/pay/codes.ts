import type { OrderError } from './orders/service.ts';
import type { RefundError } from './refunds/service.ts';
import type { ActorError, TspError } from '../tsp/service.ts';

/**
 * Binance Pay result codes and their wire messages (binance-pay.md §8), and the one table mapping domain errors to
 * them.
 */
const PAY_MESSAGES = {
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
  '400601': 'account not found',
  '400606': 'Merchant access forbidden.',
  '406108': 'Fail rate is high, please try again later',
  '406207': 'Direct debit contract not found.',
  '406212': 'Direct debit contract is not signed or no longer active.',
  '406210': 'Invalid merchant id',
  '345231': 'The quote has expired; request a new quote.',
} as const satisfies Record<string, string>;
export type PayWireCode = keyof typeof PAY_MESSAGES;

/**
 * Errors of the extended surface (binance-pay-extended.md §19), shared by its domains (payouts, wallet transfers,
 * sub-merchants, reports): each domain returns these names, never a wire code.
 */
export type ExtendedError =
  | 'FEATURE_DISABLED'
  | 'KEY_PERMISSION_MISSING'
  | 'REQUEST_KEY_REUSED'
  | 'BUSINESS_RULE'
  | 'PAYOUT_NOT_FOUND'
  | 'TRANSFER_NOT_FOUND'
  | 'SUB_MERCHANT_EXISTS'
  | 'REPORT_LIMIT'
  | 'RECEIVER_CHECK_RATE'
  | 'ACCOUNT_NOT_FOUND'
  | 'CONTRACT_NOT_FOUND'
  | 'CONTRACT_NOT_SIGNED'
  | 'QUOTE_EXPIRED'
  | 'CONVERT_ORDER_NOT_FOUND'
  | 'SPLIT_NOT_FOUND';

/** Every error a domain behind the Pay API returns; PAY_CODE_OF must map each (an unmapped one does not compile). */
export type PayDomainError = OrderError | RefundError | TspError | ActorError | ExtendedError;

/** Domain error code → Pay wire code. */
const PAY_CODE_OF: Record<PayDomainError, PayWireCode> = {
  NONCE_USED: '400001',
  ORDER_NOT_FOUND: '400202',
  REFUND_NOT_FOUND: '400202',
  DUPLICATE_TRADE_NO: '400201',
  INVALID_ORDER_STATUS: '400204',
  ORDER_EXPIRED: '400204',
  CURRENCY_NOT_SUPPORTED: '400102',
  SUB_MERCHANT_INVALID: '400206',
  INVALID_PREPAY_ID: '400301',
  TOO_MANY_REFUND_ATTEMPTS: '400302',
  INVALID_REFUND_AMOUNT: '400303',
  INSUFFICIENT_FUNDS: '400304',
  MERCHANT_NOT_FOUND: '406210',
  FIELD_MISSING: '400100',
  FIELD_FORMAT: '400101',
  FIELD_VALUE: '400102',
  // TSP authorizations (spec §7.6–7.8).
  NOT_TSP: '400203',
  AUTH_NOT_FOUND: '400102',
  AUTH_NOT_PENDING: '400102',
  AUTH_EXPIRED: '400102',
  AUTH_NOT_AUTHORIZED: '400102',
  // The spec has no rate-limit code: the published 400203 ("check account status") with a message saying why.
  RATE_LIMITED: '400203',
  // Actor resolution (spec §7.7): a token there is a wrong parameter; any other refusal is an invalid identity.
  TSP_TOKEN_NOT_ACCEPTED: '400102',
  TSP_AUTH_INVALID: '400004',
  TSP_SCOPE_NOT_AUTHORIZED: '400004',
  TSP_IP_NOT_ALLOWED: '400004',
  // The extended surface (binance-pay-extended.md §19).
  FEATURE_DISABLED: '400203',
  KEY_PERMISSION_MISSING: '400004',
  // §9.4: same key, different parameters; the message names the key.
  REQUEST_KEY_REUSED: '400102',
  // A business rule on valid fields (totals, spans, limits): 400102 with a message naming the rule.
  BUSINESS_RULE: '400102',
  PAYOUT_NOT_FOUND: '400202',
  TRANSFER_NOT_FOUND: '400202',
  SUB_MERCHANT_EXISTS: '400205',
  REPORT_LIMIT: '400102',
  RECEIVER_CHECK_RATE: '406108',
  ACCOUNT_NOT_FOUND: '400601',
  // Direct debit (§14.4–§14.7).
  CONTRACT_NOT_FOUND: '406207',
  CONTRACT_NOT_SIGNED: '406212',
  // Convert (§15.3, §15.4) and profit sharing (§16.3).
  QUOTE_EXPIRED: '345231',
  CONVERT_ORDER_NOT_FOUND: '400202',
  SPLIT_NOT_FOUND: '400202',
};

export interface PayFailure {
  code: string;
  message: string;
}

/** A failure with its wire code, and the published message unless a more precise one is given. */
export function payFailure(code: PayWireCode, message?: string): PayFailure {
  return { code, message: (message ?? PAY_MESSAGES[code]).slice(0, 256) };
}

/** The failure for a domain error. */
export const payDomainFailure = (e: { code: PayDomainError; message?: string }): PayFailure =>
  payFailure(PAY_CODE_OF[e.code], e.message);
