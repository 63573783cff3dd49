import valid from 'card-validator';
import { err, ok, type Result } from '../platform/errors.ts';
import type { CardBrand } from './support.ts';

/**
 * Card form checks (binance-connect.md §6.1 P4): Luhn, brand by IIN (Visa and Mastercard only), expiry not in the
 * past, 3-digit CVV. Runs before anything reaches the acquirer; the PAN and CVV are not kept by the caller.
 */
type CardInputError =
  'INVALID_NAME' | 'INVALID_NUMBER' | 'CARD_NOT_SUPPORTED' | 'INVALID_EXPIRY' | 'CARD_EXPIRED' | 'INVALID_CVV';

export interface CardInput {
  name: string;
  number: string;
  expiry: string;
  cvv: string;
}

export interface CheckedCard {
  name: string;
  pan: string;
  brand: CardBrand;
  expMonth: number;
  expYear: number;
  cvv: string;
}

const BRANDS: Record<string, CardBrand> = { visa: 'VISA', mastercard: 'MASTERCARD' };

export function checkCard(input: CardInput, now: number): Result<CheckedCard, CardInputError> {
  const name = String(input.name ?? '').trim();
  if (name.length < 2 || name.length > 64) return err('INVALID_NAME', 'Enter the name shown on the card.', 'name');
  const pan = String(input.number ?? '').replace(/[\s-]/g, '');
  if (!/^\d{12,19}$/.test(pan)) return err('INVALID_NUMBER', 'Enter a valid card number.', 'number');
  const n = valid.number(pan);
  if (!n.isValid) return err('INVALID_NUMBER', 'Enter a valid card number.', 'number');
  const brand = n.card ? BRANDS[n.card.type] : undefined;
  if (!brand) return err('CARD_NOT_SUPPORTED', 'Only Visa and Mastercard cards are supported.', 'number');
  const m = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(String(input.expiry ?? ''));
  if (!m) return err('INVALID_EXPIRY', 'Enter the expiry date as MM/YY.', 'expiry');
  const expMonth = Number(m[1]);
  const yy = m[2]!; // both groups take part in every match
  const expYear = yy.length === 2 ? 2000 + Number(yy) : Number(yy);
  if (expMonth < 1 || expMonth > 12) return err('INVALID_EXPIRY', 'Enter the expiry date as MM/YY.', 'expiry');
  const d = new Date(now);
  // A card is valid through the last day of its expiry month.
  if (expYear < d.getUTCFullYear() || (expYear === d.getUTCFullYear() && expMonth < d.getUTCMonth() + 1))
    return err('CARD_EXPIRED', 'This card has expired.', 'expiry');
  if (expYear > d.getUTCFullYear() + 20) return err('INVALID_EXPIRY', 'Enter the expiry date as MM/YY.', 'expiry');
  const cvv = String(input.cvv ?? '').trim();
  if (!/^\d{3}$/.test(cvv)) return err('INVALID_CVV', 'The security code has 3 digits.', 'cvv');
  return ok({ name, pan, brand, expMonth, expYear, cvv });
}
