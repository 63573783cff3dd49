/**
 * Amounts as a person reads them: the wire keeps its fixed 8 decimals ("7.25000000"), pages show the asset's natural
 * precision ("7.25 USDT"). Only trailing zeros are dropped, never a significant digit, so nothing is rounded; fiat and
 * stablecoins keep at least 2 decimals ("5.00 USDT"), other crypto none ("1 BTC", "0.015 ETH").
 */
const TWO_DECIMALS = new Set(['USD', 'EUR', 'GBP', 'USDT', 'USDC', 'BUSD', 'FDUSD', 'TUSD', 'DAI']);

/** The fewest decimals `asset` is shown with. */
export const displayDecimals = (asset: string) => (TWO_DECIMALS.has(asset.toUpperCase()) ? 2 : 0);

/** The number alone: "7.25000000", "USDT" → "7.25". A value that is not a plain decimal is returned unchanged. */
export function displayNumber(amount: string, asset: string): string {
  const m = /^(-?\d+)(?:\.(\d*))?$/.exec(amount.trim());
  if (!m) return amount;
  const min = displayDecimals(asset);
  let frac = (m[2] ?? '').replace(/0+$/, '');
  if (frac.length < min) frac = frac.padEnd(min, '0');
  return frac ? `${m[1]}.${frac}` : m[1]!;
}

/** The amount with its asset: "7.25000000", "USDT" → "7.25 USDT". */
export const displayAmount = (amount: string, asset: string) => `${displayNumber(amount, asset)} ${asset}`;
