import table from './supported-countries.json' with { type: 'json' };

/**
 * The Supported Credit Cards table of the Binance Connect Onboarding Guide v1.4.1 (seed 000 §4), shipped as data
 * (supported-countries.json, names verbatim). Countries absent from the table are unsupported (binance-connect.md
 * §6.3).
 */
export type CardBrand = 'VISA' | 'MASTERCARD';

interface CountryCardSupport {
  country: string;
  code: string;
  visa: boolean;
  mastercard: boolean;
}

export const SUPPORTED_CARD_COUNTRIES: readonly CountryCardSupport[] = table.rows;
const BY_CODE = new Map(SUPPORTED_CARD_COUNTRIES.map((r) => [r.code, r]));

export function cardCountryRow(code: string): CountryCardSupport | null {
  return BY_CODE.get(code.toUpperCase()) ?? null;
}

/** The brand is accepted for cards used by residents of (and, when known, issued in) this country. */
export function brandSupportedIn(code: string, brand: CardBrand): boolean {
  const r = cardCountryRow(code);
  if (!r) return false;
  return brand === 'VISA' ? r.visa : r.mastercard;
}

/** True when Visa or Mastercard cards are supported for users of this country (Connect's countryCode check). */
export function cardCountrySupported(code: string): boolean {
  const r = cardCountryRow(code);
  return !!r && (r.visa || r.mastercard);
}
