import { z } from 'zod';
import { coded } from '../../platform/validation.ts';
import { amount, FORMAT, httpUrl, long, MISSING, oneOf, text, VALUE } from '../validation.ts';

/**
 * Wire shapes of direct debit (binance-pay-extended.md §14), keys in the order the spec lists them. Number literals
 * arrive as their exact source text, so amounts, times and ids are strings here. Rules that tie fields together
 * (periodic terms, time windows, the scenario limit) are checked by the service (terms.ts), since the order hook of
 * §14.9 applies the same ones.
 */
export const SCENARIO_CODES = [
  'General_Ecommerce_Platform',
  'General_Travel',
  'Car_Rental',
  'Car_Parking',
  'Lease',
  'Catering',
  'Digital_Media',
  'Membership',
  'Utility',
  'Repayment',
  'Investment',
  'Ticket',
  'Mobile_Communication',
  'Virtual_Goods',
  'Others',
] as const;
/** §14.2: USDT, or USDC for MiCA users (EUR was dropped in 2025-02). */
export const CONTRACT_CURRENCIES = ['USDT', 'USDC'];

export const alnumKey = (max = 32) =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(new RegExp(`^[A-Za-z0-9]{1,${max}}$`), coded(FORMAT, `must be 1-${max} letters or digits`));

const subMerchantId = z
  .string()
  .regex(/^[0-9]{1,19}$/, coded(FORMAT, 'must be at most 19 digits'))
  .nullish();

const currency = z
  .string()
  .min(1, coded(MISSING, 'must not be empty'))
  .refine((c) => CONTRACT_CURRENCIES.includes(c), coded(VALUE, 'must be USDT or USDC'));

const count = () =>
  z
    .string()
    .min(1, coded(MISSING, 'must not be empty'))
    .regex(/^\d{1,9}$/, coded(FORMAT, 'must be an integer'));

/** The contract's terms, shared by §14.2 and `directDebitContract` on create order (§14.9). */
export const contractTerms = {
  merchantContractCode: alnumKey(32),
  serviceName: text(32),
  scenarioCode: oneOf(SCENARIO_CODES),
  singleUpperLimit: amount(8),
  periodic: z.boolean(),
  cycleDebitFixed: z.boolean().nullish(),
  cycleType: oneOf(['MONTH', 'DAY'] as const).nullish(),
  cycleValue: count().nullish(),
  firstDeductTime: long().nullish(),
  merchantAccountNo: text(64).nullish(),
  contractEndTime: long().nullish(),
};

export const ContractCreate = z.object({
  subMerchantId,
  ...contractTerms,
  currency,
  requestExpireTime: long().nullish(),
  webhookUrl: httpUrl().nullish(),
  returnUrl: httpUrl().nullish(),
  cancelUrl: httpUrl().nullish(),
});
export type ContractCreate = z.infer<typeof ContractCreate>;

/** §14.9: the terms on a create-order request (its currency is the order's). */
export const OrderContract = z.object(contractTerms);
export type ContractTerms = z.infer<typeof OrderContract>;

/** §14.4, §14.5: a contract by its contractId (number or digit string) or the merchant's code; contractId wins. */
const contractRef = {
  contractId: long().nullish(),
  merchantContractCode: z.string().max(32, coded(FORMAT, 'must be at most 32 characters')).nullish(),
};
export const ContractQuery = z.object(contractRef);
export const ContractTermination = z.object({ ...contractRef, terminationNotes: text(256).nullish() });
export type ContractRef = z.infer<typeof ContractQuery>;

const tradeMode = oneOf(['DIRECT_DEBIT'] as const);

export const PayNotify = z.object({
  subMerchantId,
  merchantRequestId: alnumKey(32),
  tradeMode,
  bizId: long(),
  estimatedAmount: amount(8),
  currency,
});
export type PayNotify = z.infer<typeof PayNotify>;

export const PayApply = z.object({
  subMerchantId,
  merchantRequestId: alnumKey(32),
  tradeMode,
  bizId: long(),
  preBizId: long().nullish(),
  amount: amount(8),
  currency,
  productType: text(16).nullish(),
  productName: text(256),
  productDetail: text(256).nullish(),
  webhookUrl: httpUrl().nullish(),
  orderTags: z.object({ ifProfitSharing: z.boolean().nullish() }).nullish(),
});
export type PayApply = z.infer<typeof PayApply>;
