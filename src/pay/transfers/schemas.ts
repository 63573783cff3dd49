import { z } from 'zod';
import { coded } from '../../platform/validation.ts';
import { PAY_CURRENCIES } from '../orders/service.ts';
import { amount, FORMAT, MISSING, oneOf, upperCode, VALUE } from '../validation.ts';

/** Wire shapes of wallet transfer and its query (binance-pay-extended.md §11). Unknown fields are ignored. */
const TRANSFER_TYPES = ['TO_MAIN', 'TO_PAY'] as const;
export type TransferType = (typeof TRANSFER_TYPES)[number];

/** The published range of a transfer amount (§11.1). */
const MAX_TRANSFER_AMOUNT = '999999999999999.99999999';

export const WalletTransfer = z.object({
  requestId: z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(/^[A-Za-z0-9]{1,32}$/, coded(FORMAT, 'must be 1-32 letters or digits')),
  // Upper-case, and one of the assets the platform runs (an unknown one is out of range).
  currency: upperCode().refine((c) => PAY_CURRENCIES.includes(c), coded(VALUE, 'is not a supported currency')),
  amount: amount(8, '0.00000001', MAX_TRANSFER_AMOUNT),
  transferType: oneOf(TRANSFER_TYPES),
});
export type WalletTransfer = z.infer<typeof WalletTransfer>;

export const WalletTransferQuery = z.object({
  tranId: z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .max(32, coded(FORMAT, 'must be at most 32 characters')),
});
