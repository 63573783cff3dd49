import { createHash } from 'node:crypto';
import type { DbRow } from '../platform/db/client.ts';
import { err, ok, type Result } from '../platform/errors.ts';

/**
 * Idempotent create calls of the extended surface (binance-pay-extended.md §9.4). Each create call carries a merchant
 * key (payout `requestId`, transfer `requestId`, …); the owning domain stores the key with the fingerprint of the
 * request's parameters, under a unique constraint on (merchant, key), in the transaction that creates the object.
 * A replay with the same fingerprint gets the stored answer; any other parameters get REQUEST_KEY_REUSED (400102).
 *
 * The fingerprint is taken over the parsed, normalized input (amounts as decimal strings, defaults applied), so
 * `1.5` and `"1.50"` are the same parameter, and key order or spacing in the JSON body never matters.
 */
export function requestFingerprint(input: unknown): string {
  return createHash('sha256').update(canonicalJson(input)).digest('hex');
}

/** JSON with object keys sorted and undefined members dropped, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The §9.4 message: the key names itself. */
export const keyReusedMessage = (field: string, key: string) =>
  `${field} ${key} was already used with different parameters.`;

/**
 * How a create call answers a request whose key is already stored (§9.4), written once so every call keeps the rule:
 * the stored object's answer when the parameters are the same (the row's fingerprint is this request's), else
 * REQUEST_KEY_REUSED naming the key as stored in `key.column` under its wire name `key.field`.
 */
export const replayOf =
  <T>(fingerprint: string, key: { field: string; column: string }, answer: (row: DbRow) => T) =>
  (row: DbRow): Result<T, 'REQUEST_KEY_REUSED'> =>
    row.fingerprint === fingerprint
      ? ok(answer(row))
      : err('REQUEST_KEY_REUSED', keyReusedMessage(key.field, String(row[key.column])));
