import { z } from 'zod';
import { coded, codedIssue } from '../../platform/validation.ts';
import { FORMAT, long, MISSING, text, VALUE } from '../validation.ts';

/**
 * Wire shapes of the sub-merchant endpoints (binance-pay-extended.md §12.1–§12.3). Unknown fields are ignored. Number
 * literals arrive as their digits (the lossless parser), so int and long fields are digit strings here; a request may
 * also send them as strings (§9.3: "requests accept number or digit string").
 */

/** ISO 3166-1 alpha-2: two upper-case letters naming a region (not the reserved groupings). */
const REGIONS = new Intl.DisplayNames(['en'], { type: 'region' });
const NOT_COUNTRIES = new Set(['ZZ', 'EU', 'EZ', 'UN', 'QO']);
const isCountry = (c: string) => /^[A-Z]{2}$/.test(c) && !NOT_COUNTRIES.has(c) && REGIONS.of(c) !== c;

const country = () =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .refine(isCountry, coded(FORMAT, 'must be an ISO 3166-1 alpha-2 country code'));

/** An int field: its digits, one of `values`. */
const intOf = (values: readonly string[], name = values.join(', ')) =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(/^-?\d{1,9}$/, { ...coded(FORMAT, 'must be an integer'), abort: true })
    .transform((v) => String(Number(v)))
    .refine((v) => values.includes(v), coded(VALUE, `must be one of ${name}`));

const mcc = () =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(/^[0-9]{4}$/, coded(FORMAT, 'must be a 4-digit MCC code'));

const httpsUrl = (max: number) =>
  text(max).refine(
    (v) => {
      try {
        return new URL(v).protocol === 'https:' && /^https:\/\//i.test(v);
      } catch {
        return false;
      }
    },
    coded(FORMAT, 'must be an https:// URL'),
  );

const STORE_TYPES = ['0', '1', '-1'] as const;
const MERCHANT_TYPES = ['1', '2', '3', '4', '5'] as const;

/** Every optional §12.1 field (and the older revision's siteType, siteName), as stored. */
const optional = {
  merchantType: intOf(MERCHANT_TYPES),
  country: z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .max(512, coded(FORMAT, 'must be at most 512 characters'))
    .refine(
      (v) => v.split(',').every((c) => c === 'GO' || isCountry(c)),
      coded(FORMAT, 'must be GO or a comma-separated list of ISO 3166-1 alpha-2 codes'),
    ),
  siteUrl: text(256),
  address: text(1024),
  payIndustryDescription: text(500),
  subPayMccCode: mcc(),
  subPayIndustryDescription: text(500),
  brandLogo: httpsUrl(256),
  companyName: text(64),
  registrationNumber: text(64),
  registrationCountry: country(),
  registrationAddress: text(1024),
  incorporationDate: long(),
  certificateType: intOf(['1', '2']),
  certificateCountry: country(),
  certificateNumber: text(64),
  certificateValidDate: long(),
  contractTimeIsv: long(),
  blockPayerKycCountries: z.array(country()).max(300, coded(FORMAT, 'must have at most 300 items')),
  siteType: intOf(['1', '2', '3', '4']),
  siteName: text(32),
};
export const OPTIONAL_FIELDS = Object.keys(optional) as (keyof typeof optional)[];

const base = {
  merchantName: text(128),
  merchantMcc: mcc(),
  // The older revision's main merchant id: accepted and ignored (the caller is the main merchant).
  mainMerchantId: long().nullish(),
};

type Opt = { [K in keyof typeof optional]: z.infer<(typeof optional)[K]> };
/** A sub-merchant's profile as stored: the mandatory fields and whichever optional ones are set. */
export type Profile = { merchantName: string; storeType: string; merchantMcc: string } & Partial<Opt>;

const ANY_COMPANY = ['2', '3', '4', '5'];
/**
 * The conditional fields (§12.1), checked on what will be stored (the request on create, the merged record on modify):
 * the first one missing, with its condition, or null.
 */
export function missingConditional(p: Profile): { field: string; condition: string } | null {
  const rules: [boolean, (keyof Opt)[], string][] = [
    [p.storeType === '0' || p.storeType === '-1', ['siteUrl'], 'storeType is 0 or -1'],
    [p.storeType === '1' || p.storeType === '-1', ['address'], 'storeType is 1 or -1'],
    [p.merchantMcc === '9999', ['payIndustryDescription'], 'merchantMcc is 9999'],
    [p.subPayMccCode === '9999', ['subPayIndustryDescription'], 'subPayMccCode is 9999'],
    [
      ANY_COMPANY.includes(p.merchantType ?? ''),
      ['companyName', 'registrationNumber', 'registrationCountry', 'registrationAddress', 'incorporationDate'],
      'merchantType is 2, 3, 4 or 5',
    ],
    [
      p.merchantType === '1',
      ['certificateType', 'certificateCountry', 'certificateNumber', 'certificateValidDate'],
      'merchantType is 1',
    ],
  ];
  for (const [applies, fields, condition] of rules) {
    if (!applies) continue;
    const field = fields.find((f) => p[f] === undefined || p[f] === null);
    if (field) return { field, condition };
  }
  return null;
}

export const conditionalMessage = (m: { field: string; condition: string }) =>
  `${m.field}: required when ${m.condition}`;

const optionalNullish = Object.fromEntries(Object.entries(optional).map(([k, s]) => [k, s.nullish()])) as {
  [K in keyof typeof optional]: z.ZodOptional<z.ZodNullable<(typeof optional)[K]>>;
};

/** Create (§12.1): storeType absent → 0 (older clients), country absent → GO; conditionals on the request. */
export const SubMerchantAdd = z
  .object({
    merchantName: base.merchantName,
    storeType: intOf(STORE_TYPES).nullish(),
    merchantMcc: base.merchantMcc,
    ...optionalNullish,
    mainMerchantId: base.mainMerchantId,
  })
  .transform((v) => {
    const profile: Record<string, unknown> = { storeType: '0', country: 'GO' };
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined && k !== 'mainMerchantId') profile[k] = x;
    return profile as Profile;
  })
  .superRefine((p, ctx) => {
    const missing = missingConditional(p);
    if (missing) ctx.addIssue(codedIssue(MISSING, [missing.field], `required when ${missing.condition}`));
  });

/** The sub-merchant id of a request: ≤128 digits (§12.2, §12.3); one that fits no id is simply not found. */
const subMerchantId = () =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .max(128, coded(FORMAT, 'must be at most 128 characters'))
    .regex(/^\d+$/, coded(FORMAT, 'must be digits'));

/**
 * Modify (§12.2): the id, the three mandatory fields, and any other field: present replaces, absent keeps, null clears.
 * The conditionals are checked by the service on the merged record.
 */
export const SubMerchantModify = z.object({
  subMerchantId: subMerchantId(),
  merchantName: base.merchantName,
  storeType: intOf(STORE_TYPES),
  merchantMcc: base.merchantMcc,
  ...optionalNullish,
  mainMerchantId: base.mainMerchantId,
});
export type SubMerchantModify = z.infer<typeof SubMerchantModify>;

/** Query (§12.3): exactly one of id and name; both or neither → 400102. */
export const SubMerchantQuery = z
  .object({
    subMerchantId: subMerchantId().nullish(),
    subMerchantName: z
      .string()
      .min(1, coded(MISSING, 'must not be empty'))
      .max(128, coded(FORMAT, 'must be at most 128 characters'))
      .nullish(),
  })
  .superRefine((o, ctx) => {
    const both = o.subMerchantId != null && o.subMerchantName != null;
    const neither = o.subMerchantId == null && o.subMerchantName == null;
    if (both || neither)
      ctx.addIssue(
        codedIssue(VALUE, ['subMerchantId'], 'exactly one of subMerchantId and subMerchantName is required'),
      );
  });
