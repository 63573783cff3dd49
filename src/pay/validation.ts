import { z } from 'zod';
import { decimalPlaces, Decimal } from '../platform/money.ts';
import { isValidIpOrCidr } from '../platform/ip.ts';
import { coded, fieldPath, wireCodeOf } from '../platform/validation.ts';
import type { PayFailure, PayWireCode } from './codes.ts';

/**
 * Field validation for the Pay family. A zod schema is the validator and the documented wire shape;
 * a check carries its wire code as issue data (coded(), platform/validation.ts), and the others map by kind:
 * missing or wrong JSON type → 400100, length or format → 400101, value out of range → 400102.
 * Number literals arrive as their exact source text (see parseLossless), so amounts are strings here.
 */
export const MISSING = '400100' satisfies PayWireCode;
export const FORMAT = '400101' satisfies PayWireCode;
export const VALUE = '400102' satisfies PayWireCode;
const CHARS = '400103' satisfies PayWireCode;

// Backslash, double quote, control characters and emoji are refused in free text (spec §3).
const ILLEGAL = /[\\"\p{Cc}\p{Extended_Pictographic}]/u;

export const text = (max: number, opts: { illegal?: boolean } = {}) => {
  let s = z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .max(max, coded(FORMAT, `must be at most ${max} characters`));
  if (opts.illegal !== false) s = s.refine((v) => !ILLEGAL.test(v), coded(CHARS, 'contains illegal characters'));
  return s;
};

export const oneOf = <T extends string>(values: readonly T[]) =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .refine(
      (v): v is T => (values as readonly string[]).includes(v),
      coded(VALUE, `must be one of ${values.join(', ')}`),
    );

export const httpUrl = (max = 256) =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .max(max, coded(FORMAT, `must be at most ${max} characters`))
    .refine(
      (v) => {
        try {
          const u = new URL(v);
          return (u.protocol === 'http:' || u.protocol === 'https:') && /^https?:\/\//i.test(v);
        } catch {
          return false;
        }
      },
      coded(FORMAT, 'must be an http(s) URL'),
    );

/** A positive decimal with at most `dp` decimals, sent as a JSON number or a numeric string. */
/**
 * Upper bound of every Pay amount unless a field has a tighter one: order and refund columns are numeric(38, 8)
 * and ledger balances numeric(38, 18), and a fiat order's converted amount needs headroom below the latter.
 */
const MAX_AMOUNT = '1000000000000000';

export const amount = (dp = 8, min = '0.00000001', max = MAX_AMOUNT) =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(DECIMAL, { ...coded(FORMAT, 'must be a decimal number'), abort: true })
    .refine((v) => decimalPlaces(v) <= dp, { ...coded(FORMAT, `must have at most ${dp} decimal places`), abort: true })
    .refine((v) => !DECIMAL.test(v) || new Decimal(v).gte(min), coded(VALUE, `must be at least ${min}`))
    .refine((v) => !DECIMAL.test(v) || new Decimal(v).lte(max), coded(VALUE, `must be at most ${max}`));

const DECIMAL = /^\d+(\.\d+)?$/;

/** The largest id an int8 column holds; a larger one is out of range (400102), never a database error. */
export const INT8_MAX = 9223372036854775807n;
export const fitsInt8 = (v: string) => !/^\d{1,19}$/.test(v) || BigInt(v) <= INT8_MAX;

export const long = () =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(/^\d{1,19}$/, { ...coded(FORMAT, 'must be an integer'), abort: true })
    .refine(fitsInt8, coded(VALUE, `must be at most ${INT8_MAX}`));

export const ip = () =>
  z.string().refine((v) => isValidIpOrCidr(v) && !v.includes('/'), coded(FORMAT, 'must be an IP address'));

export const upperCode = (max = 16) =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(new RegExp(`^[A-Z0-9]{1,${max}}$`), coded(FORMAT, 'must be upper-case letters and digits'));

export function firstFailure(error: z.ZodError): PayFailure {
  const issue = error.issues[0];
  if (!issue) throw new Error('a ZodError without issues');
  const path = fieldPath(issue.path);
  const marked = wireCodeOf(issue) as PayWireCode | undefined;
  let code: PayWireCode;
  let reason: string;
  if (marked) {
    code = marked;
    reason = issue.message;
  } else if (issue.code === 'invalid_type') {
    code = MISSING;
    reason = /received (undefined|null)/.test(issue.message) ? 'is required' : `must be a ${issue.expected}`;
  } else if (issue.code === 'too_small' && issue.origin === 'array' && Number(issue.minimum) === 1) {
    code = MISSING;
    reason = 'must not be empty';
  } else if (issue.code === 'too_big' || issue.code === 'too_small' || issue.code === 'invalid_format') {
    code = FORMAT;
    reason = issue.message;
  } else {
    code = VALUE;
    reason = issue.message;
  }
  return { code, message: `${path || 'body'}: ${reason}`.slice(0, 256) };
}
