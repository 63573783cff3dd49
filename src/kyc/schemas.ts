import { z } from 'zod';
import { coded, codedBy } from '../platform/validation.ts';

/**
 * Request shapes of the signed KYC Sharing endpoints (kyc-sharing.md §4): validator, OpenAPI body and handler input
 * at once. A refused field is INVALID_PARAM with "field: reason" as messageDetail; keys are in the order they are
 * checked, so the first issue is the answer. share-kyc-data is checked by its rule table (validation.ts).
 */
const INVALID = 'INVALID_PARAM';

/** Required, a string, at most 128 characters (absent, null and "" are all "is required"). */
const requiredString = (field: string) =>
  z
    .string(
      codedBy((iss) => [
        INVALID,
        iss.input === undefined || iss.input === null ? `${field}: is required` : `${field}: must be a string`,
      ]),
    )
    .min(1, { ...coded(INVALID, `${field}: is required`), abort: true })
    .max(128, coded(INVALID, `${field}: must be at most 128 characters`));

export const QueryShareDataStatus = z.object({
  entityCustomerId: requiredString('entityCustomerId'),
  requestNo: requiredString('requestNo'),
});

export const CheckKycStatus = z
  .object({
    entityCustomerId: requiredString('entityCustomerId'),
    kycType: requiredString('kycType'),
    brokerMainAccountId: requiredString('brokerMainAccountId'),
    brokerSubAccountId: requiredString('brokerSubAccountId'),
  })
  .refine((b) => b.kycType === 'USER', { ...coded(INVALID, 'kycType: must be USER'), path: ['kycType'] });

/** Checked by the share rule table after the signature, field by field (validation.ts). */
export const ShareKycData = z.looseObject({});
