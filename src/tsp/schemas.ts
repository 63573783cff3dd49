import { z } from 'zod';
import { coded } from '../platform/validation.ts';
import { fitsInt8, FORMAT, INT8_MAX, MISSING, VALUE } from '../pay/validation.ts';

/**
 * Wire shapes of the TSP endpoints (binance-pay.md §7.2, §7.6). Number literals arrive as their source text
 * (parseLossless), so merchantId may be sent as a JSON number or string alike.
 */
const required = (max: number) =>
  z
    .string(coded(MISSING, `is required`))
    .min(1, coded(MISSING, `must not be empty`))
    .max(max, coded(FORMAT, `must be at most ${max} characters`));

const pageNumber = (name: string, min: number, max?: number) =>
  z
    .string(coded(MISSING, `is required`))
    .regex(/^\d{1,9}$/, { ...coded(FORMAT, `must be an integer`), abort: true })
    .transform(Number)
    .refine(
      (n) => n >= min && (max === undefined || n <= max),
      coded(VALUE, `${name} must be ${max === undefined ? `at least ${min}` : `between ${min} and ${max}`}`),
    );

export const CreateAuthorization = z.object({
  merchantId: required(32),
  scopes: z
    .array(z.string(coded(MISSING, `must be a string`)), coded(MISSING, `is required`))
    .min(1, coded(MISSING, `must not be empty`)),
  // Entries are checked by the service (IP or CIDR, "" ignored): any other entry is 400101.
  ipWhitelist: z
    .array(z.string(coded(FORMAT, `must be an IP address`)), coded(MISSING, `is required`))
    .max(50, coded(FORMAT, `at most 50 entries`)),
});

export const Records = z.object({
  page: pageNumber('page', 1),
  rows: pageNumber('rows', 1, 10),
  merchantId: required(32).nullish(),
});

export const RecordGet = z
  .object({
    merchantId: required(32).nullish(),
    authorizationId: required(19)
      .regex(/^\d{1,19}$/, { ...coded(FORMAT, `must be an integer`), abort: true })
      .refine(fitsInt8, coded(VALUE, `must be at most ${INT8_MAX}`))
      .nullish(),
  })
  .refine(
    (b) => Boolean(b.merchantId || b.authorizationId),
    coded(MISSING, `merchantId or authorizationId is required`),
  );
