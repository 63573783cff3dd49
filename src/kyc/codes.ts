/**
 * KYC Sharing wire codes (kyc-sharing.md §8) and the one table mapping domain errors to them.
 * On failure the envelope's `message` is the error name and `messageDetail` the human detail.
 */
export type KycErrorCode =
  | 'INVALID_PARAM'
  | 'UNKNOWN_BROKER'
  | 'BAD_REQUEST'
  | 'IP_NOT_ALLOWED'
  | 'SIGN_MISMATCH'
  | 'DUPLICATE_REQUEST'
  | 'INTERNAL'
  | 'BROKER_DISABLED'
  | 'SUB_ACCOUNT_LINKED_TO_OTHER_USER'
  | 'TOO_MANY_SUB_ACCOUNTS'
  | 'INVALID_BROKER_ACCOUNT'
  | 'ACCOUNT_CHECK_FAILED'
  | 'SUB_ACCOUNT_LINKED_TO_OTHER_MAIN';

const KYC_WIRE: Record<KycErrorCode, { code: string; name: string; http?: number }> = {
  INVALID_PARAM: { code: '000002', name: 'ILLEGAL_PARAM' },
  UNKNOWN_BROKER: { code: '000002', name: 'ILLEGAL_PARAM' },
  BAD_REQUEST: { code: '10040005', name: 'ILLEGAL_REQUEST' },
  IP_NOT_ALLOWED: { code: '10040005', name: 'ILLEGAL_REQUEST', http: 403 },
  SIGN_MISMATCH: { code: '10040080', name: 'SIGN_MISMATCH' },
  DUPLICATE_REQUEST: { code: '10040008', name: 'DUPLICATE_REQUEST' },
  INTERNAL: { code: '10040004', name: 'SYS_ERROR' },
  BROKER_DISABLED: { code: '10115001', name: 'SYS_ERROR_NEED_CONTACT' },
  SUB_ACCOUNT_LINKED_TO_OTHER_USER: { code: '10040082', name: 'SUB_ACCOUNT_ALREADY_LINKED_TO_OTHER' },
  TOO_MANY_SUB_ACCOUNTS: { code: '10040101', name: 'USER_LINKED_SUB_ACCOUNTS_EXCEED_LIMIT' },
  INVALID_BROKER_ACCOUNT: { code: '10040102', name: 'INVALID_BROKER_ACCOUNT' },
  ACCOUNT_CHECK_FAILED: { code: '10040103', name: 'CHECK_BROKER_ACCOUNT_ERROR' },
  SUB_ACCOUNT_LINKED_TO_OTHER_MAIN: { code: '10040104', name: 'SUB_ACCOUNT_ALREADY_LINKED_TO_OTHER_MAIN_ACCOUNT' },
};

/** Used in a share's failMessage (§2 Processing), not as a response code. */
export const FILE_TOO_LARGE = '10040106 FILE_TOO_LARGE';

export interface KycFailure {
  code: KycErrorCode;
  detail: string;
}

export function kycEnvelope(r: { data: unknown } | KycFailure): { status: number; body: string } {
  if ('data' in r)
    return {
      status: 200,
      body: JSON.stringify({ code: '000000', message: null, messageDetail: null, data: r.data ?? null, success: true }),
    };
  const w = KYC_WIRE[r.code];
  return {
    status: w.http ?? 200,
    body: JSON.stringify({ code: w.code, message: w.name, messageDetail: r.detail, data: null, success: false }),
  };
}
