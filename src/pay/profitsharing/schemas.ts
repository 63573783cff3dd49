import { z } from 'zod';
import { coded, codedIssue } from '../../platform/validation.ts';
import { amount, FORMAT, httpUrl, long, MISSING, text, VALUE } from '../validation.ts';

/** Wire shapes of profit sharing (binance-pay-extended.md §16). Unknown fields are ignored. */

/** A receiver's Binance ID (Rampart: the payer id); a JSON number arrives as its digits. */
const account = () =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(/^\d{1,19}$/, coded(FORMAT, 'must be a Binance ID (digits)'));

const requestKey = () =>
  z.string().min(1, coded(MISSING, 'must not be empty')).max(32, coded(FORMAT, 'must be at most 32 characters'));

/** §16.2 description: Decision regex ^[A-Za-z0-9 ,./]{1,128}$; other characters are 400103. */
const description = () =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .max(128, coded(FORMAT, 'must be at most 128 characters'))
    .regex(/^[A-Za-z0-9 ,./]+$/, coded('400103', 'may only contain letters, digits, spaces and , / .'));

export const AddReceiver = z.object({ account: account() });
export const DelReceiver = AddReceiver;

const pageInt = (max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, { ...coded(FORMAT, 'must be an integer'), abort: true })
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, coded(VALUE, `must be between 1 and ${max}`));
export const QueryReceivers = z.object({ pageNum: pageInt(1_000_000), pageSize: pageInt(100) });

export const SubmitSplit = z.object({
  merchantRequestId: requestKey(),
  prepayOrderId: long(),
  receiverList: z
    .array(
      z.object({
        account: account(),
        amount: amount(8),
        description: description(),
        webhookUrl: httpUrl(256).nullish(),
      }),
    )
    .min(1)
    .max(100, coded(FORMAT, 'must have at most 100 receivers')),
});
export type SubmitSplit = z.infer<typeof SubmitSplit>;

export const QuerySplit = z.object({ merchantRequestId: requestKey(), prepayOrderId: long() });

export const ReturnSplit = z
  .object({
    prepayOrderId: long(),
    splitOrderNo: long().nullish(),
    originMerchantRequestId: requestKey().nullish(),
    merchantReturnNo: requestKey(),
    transferOutAccount: account(),
    returnAmount: amount(8),
    description: text(128).nullish(),
    webhookUrl: httpUrl(256).nullish(),
  })
  .superRefine((b, ctx) => {
    if (b.splitOrderNo == null && b.originMerchantRequestId == null)
      ctx.addIssue(codedIssue(MISSING, ['splitOrderNo'], 'splitOrderNo or originMerchantRequestId is required'));
  });
export type ReturnSplit = z.infer<typeof ReturnSplit>;
