import { randomInt } from 'node:crypto';
import { hmacSha256Hex, safeEqual, sha256Hex } from './crypto.ts';

/**
 * The 6-digit codes mailed to confirm an action (a sign-up, a withdrawal, a new settlement address): drawn uniformly,
 * kept at rest only as a keyed digest bound to what they confirm (`scope`: an account or a request id), so a stolen
 * table gives neither the codes nor a way to try them offline, and a code for one thing never confirms another.
 */
export const newConfirmationCode = () => String(randomInt(0, 1_000_000)).padStart(6, '0');

export const codeDigest = (key: string, scope: string, code: string) => hmacSha256Hex(key, `${scope}:${code}`);

/** Whether `code` is the one whose digest is `stored`, compared in constant time; malformed input never matches. */
export function codeMatches(key: string, scope: string, code: string, stored: string | null | undefined): boolean {
  if (!stored || !/^\d{6}$/.test(code)) return false;
  return safeEqual(sha256Hex(codeDigest(key, scope, code)), sha256Hex(stored));
}
