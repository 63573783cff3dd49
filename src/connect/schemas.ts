import { z } from 'zod';
import { isValidIpOrCidr } from '../platform/ip.ts';
import { Decimal } from '../platform/money.ts';
import { coded, codedBy, codedIssue, wireCodeOf } from '../platform/validation.ts';

/**
 * Request shapes of the Connect partner API (binance-connect.md §4), each the validator, the OpenAPI body and the
 * handler's input type. Parameter errors carry their domain code (MISSING_PARAMETER → OPE100000011, INVALID_PARAMETER
 * → OPE100000010, codes.ts) and name the field; keys are in the order the spec checks them, so the first issue is the
 * answer. Number literals arrive as their exact source text (the lossless parser), so amounts are strings here.
 */
const MISSING = 'MISSING_PARAMETER';
const INVALID = 'INVALID_PARAMETER';
const absent = (v: unknown) => v === undefined || v === null;

/** A non-empty string: absent or empty is MISSING_PARAMETER, another JSON type INVALID_PARAMETER. */
const requiredString = (field: string) =>
  z
    .string(
      codedBy((iss) =>
        absent(iss.input) ? [MISSING, `${field} is required`] : [INVALID, `${field} must be a string`],
      ),
    )
    .min(1, coded(MISSING, `${field} is required`));

/** An optional string: absent or empty is null. */
const optionalString = (field: string, max: number) => {
  const wrong = `${field} must be a string of at most ${max} characters`;
  return z.preprocess(
    (v) => (absent(v) || v === '' ? null : v),
    z.string(coded(INVALID, wrong)).max(max, coded(INVALID, wrong)).nullable(),
  );
};

const DECIMAL = /^\d+(\.\d+)?$/;
/** A positive decimal, normalized (no trailing zeros). */
const positiveAmount = (field: string) =>
  z
    .string(
      codedBy((iss) =>
        absent(iss.input) ? [MISSING, `${field} is required`] : [INVALID, `${field} must be a positive number`],
      ),
    )
    .min(1, { ...coded(MISSING, `${field} is required`), abort: true })
    .refine((v) => DECIMAL.test(v) && new Decimal(v).gt(0), coded(INVALID, `${field} must be a positive number`))
    .transform((v) => new Decimal(v).toFixed());

/** Checked field by field by the order service (orders/service.ts), in the order of the spec's errors. */
export const AnyObject = z.looseObject({});

export const GetQuote = z.object({
  fiatCurrency: requiredString('fiatCurrency'),
  cryptoCurrency: requiredString('cryptoCurrency'),
  cryptoNetwork: requiredString('cryptoNetwork'),
  paymentMethod: requiredString('paymentMethod'),
  fiatAmount: positiveAmount('fiatAmount'),
  countryCode: optionalString('countryCode', 2).refine(
    (v) => v === null || /^[A-Za-z]{2}$/.test(v),
    coded(INVALID, 'countryCode must be ISO 3166-1 alpha-2'),
  ),
});

/** By merchantOrderId, or by orderId when only that is given. */
export const QueryOrderList = z
  .object({ merchantOrderId: z.unknown().optional(), orderId: z.unknown().optional() })
  .transform((b, ctx): { merchantOrderId: string } | { orderId: string } => {
    const field = b.merchantOrderId === undefined && b.orderId !== undefined ? 'orderId' : 'merchantOrderId';
    const v = requiredString(field).safeParse(b[field]);
    if (v.success) return field === 'orderId' ? { orderId: v.data } : { merchantOrderId: v.data };
    ctx.addIssue(codedIssue(wireCodeOf(v.error.issues[0]!) ?? INVALID, [field], v.error.issues[0]!.message));
    return z.NEVER;
  });

/** The end user's IP address as clientUserIp (or userIp when only that is given); one address, not a range. */
export const CheckIpAddress = z
  .object({ clientUserIp: z.unknown().optional(), userIp: z.unknown().optional() })
  .transform((b, ctx): { ip: string } => {
    const field = b.clientUserIp === undefined && b.userIp !== undefined ? 'userIp' : 'clientUserIp';
    const v = requiredString(field).safeParse(b[field]);
    if (!v.success) {
      ctx.addIssue(codedIssue(wireCodeOf(v.error.issues[0]!) ?? INVALID, [field], v.error.issues[0]!.message));
      return z.NEVER;
    }
    if (!isValidIpOrCidr(v.data) || v.data.includes('/')) {
      ctx.addIssue(codedIssue(INVALID, [field], `${field} must be an IPv4 or IPv6 address`));
      return z.NEVER;
    }
    return { ip: v.data };
  });
