import countries from 'i18n-iso-countries';
import { z } from 'zod';
import { coded, codedIssue } from '../../platform/validation.ts';
import { FORMAT, httpUrl, MISSING, oneOf, VALUE } from '../validation.ts';

/** Wire shapes of payer verification and share account id (binance-pay-extended.md §17.1, §17.2). */

export const PAYER_TYPES = ['INDIVIDUAL', 'CORPORATE'] as const;
export type PayerType = (typeof PAYER_TYPES)[number];

/** The categories each payer type may send; `required` must all be present whenever `information` is (§17.1). */
export const CATEGORIES = {
  INDIVIDUAL: {
    required: ['FIRST_NAME', 'LAST_NAME', 'DATE_OF_BIRTH'],
    optional: ['NATIONALITY', 'DOCUMENT_TYPE', 'DOCUMENT_NUMBER'],
  },
  CORPORATE: { required: ['COMPANY_NAME', 'REGISTRATION_NUMBER', 'REGISTRATION_COUNTRY'], optional: [] },
} as const;
const ALL_CATEGORIES = [
  ...CATEGORIES.INDIVIDUAL.required,
  ...CATEGORIES.INDIVIDUAL.optional,
  ...CATEGORIES.CORPORATE.required,
] as const;
export type Category = (typeof ALL_CATEGORIES)[number];

export const DOCUMENT_TYPES = [
  'ID_CARD',
  'PASSPORT',
  'DRIVING_LICENSE',
  'VISA',
  'CPF',
  'OTHER',
  'BVN_NUMBER',
  'NIN_NUMBER',
  'PAN',
  'BVN_NIN_NUMBER',
  'SMILEID_NATIONAL_ID',
  'ABN',
  'ACN',
  'UA_DIA',
] as const;

/** A real calendar day written YYYY-MM-DD (2023-02-30 is no date). */
function isCalendarDate(v: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) return false;
  const d = new Date(`${v}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v;
}
const isCountry = (v: string) => /^[A-Za-z]{2}$/.test(v) && countries.isValid(v.toUpperCase());

/** Each value's own rule (§17.1 `.value`): [the check, its wire code, the message]. */
const VALUE_RULES: Partial<Record<Category, [(v: string) => boolean, string, string]>> = {
  DATE_OF_BIRTH: [isCalendarDate, FORMAT, 'must be a date written YYYY-MM-DD'],
  NATIONALITY: [isCountry, FORMAT, 'must be an ISO 3166-1 alpha-2 country code'],
  REGISTRATION_COUNTRY: [isCountry, FORMAT, 'must be an ISO 3166-1 alpha-2 country code'],
  DOCUMENT_TYPE: [(v) => (DOCUMENT_TYPES as readonly string[]).includes(v), VALUE, `must be one of ${DOCUMENT_TYPES}`],
};

const Information = z.object({
  category: oneOf(ALL_CATEGORIES),
  value: z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .max(1024, coded(FORMAT, 'must be at most 1024 characters')),
});

export const PayerVerification = z
  .object({
    // The payer's Binance ID is Rampart's payer id; a JSON number arrives as its digits (lossless parse).
    binanceId: z
      .string()
      .min(1, coded(MISSING, 'must not be empty'))
      .regex(/^\d{1,19}$/, coded(FORMAT, 'must be digits')),
    payerType: oneOf(PAYER_TYPES),
    information: z.array(Information).max(16, coded(FORMAT, 'must have at most 16 items')).nullish(),
  })
  .superRefine((o, ctx) => {
    if (!o.information) return;
    const allowed = CATEGORIES[o.payerType];
    const seen = new Set<string>();
    o.information.forEach((item, i) => {
      const path = ['information', i, 'category'];
      if (!([...allowed.required, ...allowed.optional] as string[]).includes(item.category))
        ctx.addIssue(codedIssue(VALUE, path, `${item.category} is not a category of ${o.payerType}`));
      else if (seen.has(item.category)) ctx.addIssue(codedIssue(VALUE, path, `${item.category} is given twice`));
      seen.add(item.category);
      const rule = VALUE_RULES[item.category];
      if (rule && !rule[0](item.value)) ctx.addIssue(codedIssue(rule[1], ['information', i, 'value'], rule[2]));
    });
    const missing = allowed.required.filter((c) => !seen.has(c));
    if (missing.length > 0)
      ctx.addIssue(codedIssue(MISSING, ['information'], `${missing.join(', ')} required for ${o.payerType}`));
  });
export type PayerVerification = z.infer<typeof PayerVerification>;

export const ShareAccountId = z.object({
  subMerchantId: z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .max(19, coded(FORMAT, 'must be at most 19 characters'))
    .regex(/^\d+$/, coded(FORMAT, 'must be digits'))
    .nullish(),
  requestId: z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(/^[A-Za-z0-9]{1,32}$/, coded(FORMAT, 'must be 1-32 letters or digits')),
  webhookUrl: httpUrl(256).nullish(),
});
export type ShareAccountId = z.infer<typeof ShareAccountId>;
