import { z } from 'zod';
import { codedIssue, coded } from '../../platform/validation.ts';
import { FORMAT, MISSING, oneOf, VALUE } from '../validation.ts';
import { parseDayDmy, parseDayIso } from './files.ts';

/**
 * Wire shapes of the reports (binance-pay-extended.md §13), keys in the order the spec lists them. Field rules are
 * here; the rules between fields and against the clock (start ≤ end, the span, the current day) are the service's.
 */
const date = (format: string, parse: (v: string) => number | null) =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .refine((v) => parse(v) !== null, coded(FORMAT, `must be a date ${format}`));

const TRANSACTION_TYPES = ['Payment', 'Payout'] as const;

/** §13.1: `transactionType` is required for Transaction and must be absent, null or "" for Settlement. */
export const GetFile = z
  .object({
    reportType: oneOf(['Transaction', 'Settlement'] as const),
    transactionType: z.string().nullish(),
    startDate: date('dd/MM/yyyy', parseDayDmy),
    endDate: date('dd/MM/yyyy', parseDayDmy),
  })
  .superRefine((b, ctx) => {
    const given = b.transactionType !== undefined && b.transactionType !== null && b.transactionType !== '';
    if (b.reportType === 'Transaction' && !given)
      ctx.addIssue(codedIssue(MISSING, ['transactionType'], 'is required for reportType Transaction'));
    else if (b.reportType === 'Transaction' && !(TRANSACTION_TYPES as readonly string[]).includes(b.transactionType!))
      ctx.addIssue(codedIssue(VALUE, ['transactionType'], `must be one of ${TRANSACTION_TYPES.join(', ')}`));
    else if (b.reportType === 'Settlement' && given)
      ctx.addIssue(codedIssue(VALUE, ['transactionType'], 'must be absent, null or empty for reportType Settlement'));
  });

/** §13.3. */
export const BalanceReport = z.object({
  reportType: oneOf(['Balance'] as const),
  walletType: oneOf(['SPOT_WALLET', 'FUNDING_WALLET'] as const)
    .nullish()
    .transform((v) => v ?? null),
  startDate: date('YYYY-MM-DD', parseDayIso),
  endDate: date('YYYY-MM-DD', parseDayIso),
});

/** §13.4: an id that is not one of the merchant's reports is answered `exist: false`, not refused. */
export const BalanceReportQuery = z.object({
  downloadId: z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .max(64, coded(FORMAT, 'must be at most 64 characters')),
});
