import { z } from 'zod';
import { coded } from '../../platform/validation.ts';
import { amount, FORMAT, httpUrl, MISSING, text } from '../validation.ts';

/** Wire shapes of refund and query refund (binance-pay.md §4.5, §4.6). Unknown fields are ignored. */
const refundRequestId = z
  .string()
  .min(1, coded(MISSING, `must not be empty`))
  .regex(/^[A-Za-z0-9_-]{1,64}$/, coded(FORMAT, `must be 1-64 letters, digits, '_' or '-'`));

export const RefundRequest = z.object({
  refundRequestId,
  // Only the length is a format rule; any other unknown value is an invalid prepayId (400301).
  prepayId: z
    .string()
    .min(1, coded(MISSING, `must not be empty`))
    .max(19, coded(FORMAT, `must be at most 19 characters`)),
  refundAmount: amount(),
  refundReason: text(256).nullish(),
  webhookUrl: httpUrl().nullish(),
});
export type RefundRequest = z.infer<typeof RefundRequest>;

export const QueryRefund = z.object({ refundRequestId });
