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

const str = (description: string, example?: string) => ({ type: 'string', description, example });
const country = (description: string) => str(`${description}, ISO 3166-1 alpha-2 upper case.`, 'FR');

/**
 * Checked by the share rule table after the signature, field by field (validation.ts); the validator accepts any
 * object. The `meta` is the wire shape (kyc-sharing.md §2) for OpenAPI only.
 */
export const ShareKycData = z.looseObject({}).meta({
  description:
    "Shares a linked user's KYC data. kycInfo may also be sent as a string holding that object's JSON. Standard " +
    'brokers send basicInfo and identityInfo; KZ Entity (partial) brokers any section.',
  required: ['bizEntityKey', 'requestNo', 'kycInfo'],
  properties: {
    bizEntityKey: str("The broker's key.", 'BROKERKEY'),
    requestNo: str('Unique per request, ≤120; an identical retry is answered again.', '23454312345365012111113'),
    kycInfo: {
      type: 'object',
      required: ['userInfo'],
      properties: {
        userInfo: {
          type: 'object',
          required: ['bizEntityKey', 'entityCustomerId', 'brokerMainAccountId', 'brokerSubAccountId', 'notifyUrl'],
          properties: {
            bizEntityKey: str('Equal to the top-level bizEntityKey.', 'BROKERKEY'),
            entityCustomerId: str("The user's id on the broker's site.", '12345678123456767'),
            brokerMainAccountId: str('Broker main account id (digits).', '1000234567'),
            brokerSubAccountId: str('Broker sub account id (digits).', '1000234599'),
            notifyUrl: str('USER-STATUS notifications go here; "." for none.', 'https://broker.example/kyc/notify'),
            extra: str('Stored verbatim, ≤2048.'),
          },
        },
        basicInfo: {
          type: 'object',
          properties: {
            firstName: str('1–128.', 'Ana'),
            middleName: str('≤128.'),
            lastName: str('1–128.', 'Lee'),
            residentialCountry: country('Country of residence'),
            dob: str('yyyy-MM-dd, in the past.', '1990-01-01'),
            country: country('Nationality'),
            userSubmitIp: str('IPv4 or IPv6.', '203.0.113.7'),
            address: str('≤400.', '1 Rue de Rivoli'),
            city: str('≤100.', 'Paris'),
            postalCode: str('≤50.', '75001'),
          },
        },
        identityInfo: {
          type: 'object',
          properties: {
            documentType: str('ID_CARD, PASSPORT, DRIVING_LICENSE or RESIDENCE_PERMIT.', 'PASSPORT'),
            selectCountry: country('Country chosen during ID verification'),
            frontFileUrl: str('https:// download URL of the front image.', 'https://broker.example/files/front.jpg'),
            backFileUrl: str('https:// download URL of the back image.'),
            faceFileUrl: str('https:// download URL of the face image.', 'https://broker.example/files/face.jpg'),
            firstName: str('Must match basicInfo.firstName.', 'Ana'),
            lastName: str('Must match basicInfo.lastName.', 'Lee'),
            dob: str('yyyy-MM-dd.', '1990-01-01'),
            idType: str('Same values as documentType; wins if they differ.', 'PASSPORT'),
            idCountry: country('Issuing country'),
            nationalityCountry: country('Nationality'),
            idNumber: str('1–64.', '19AB12345'),
            idExpiry: str('yyyy-MM-dd.', '2031-05-01'),
            userSubmitIp: str('IPv4 or IPv6.', '203.0.113.7'),
          },
        },
        tncInfo: {
          type: 'object',
          description: 'KZ Entity brokers only.',
          properties: {
            userSubmitIp: str('IPv4 or IPv6.'),
            tncVersion: str('a.b', '1.0'),
            consent: { type: 'boolean' },
            signTime: str('ISO-8601 with a zone.', '2024-01-01T12:00:00Z'),
          },
        },
        questionnaireInfo: {
          type: 'object',
          description: "KZ Entity brokers only: every question of the broker's version answered.",
          properties: { version: str('A configured questionnaire version.', 'KZ_V6'), answers: { type: 'array' } },
        },
      },
    },
  },
} as Record<string, unknown>);
