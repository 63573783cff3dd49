/**
 * JSON helpers for wire formats where numbers must survive exactly:
 * amounts with up to 8 decimals and 64-bit ids must never pass through an IEEE-754 double.
 */

/** A number literal to be written verbatim into JSON output (e.g. "0.88000000", "376823612387012608"). */
class RawNumber {
  constructor(readonly text: string) {
    if (!/^-?\d+(\.\d+)?$/.test(text)) throw new Error(`not a number literal: ${text}`);
  }
}

export const raw = (text: string | bigint) => new RawNumber(String(text));

/**
 * Parses JSON text with every number literal turned into its exact source string,
 * so `{"orderAmount": 0.1000000001}` yields `"0.1000000001"`.
 * The rewrite happens on the token stream, then the native parser does the rest.
 */
export function parseLossless(text: string): unknown {
  let out = '';
  let i = 0;
  let last = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i += 2;
        else if (d === 34) {
          i++;
          break;
        } else i++;
      }
    } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      const start = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if ((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) i++;
        else break;
      }
      const literal = text.slice(start, i);
      // Validate the literal with the native parser so malformed numbers still fail.
      JSON.parse(literal);
      out += text.slice(last, start) + '"' + literal + '"';
      last = i;
    } else {
      i++;
    }
  }
  if (last === 0) return JSON.parse(text);
  return JSON.parse(out + text.slice(last));
}

/** Serializes like JSON.stringify, but writes RawNumber verbatim and bigint as an integer literal. */
export function stringify(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof RawNumber) return value.text;
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
  }
  if (Array.isArray(value)) return '[' + value.map((v) => (v === undefined ? 'null' : stringify(v))).join(',') + ']';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined || typeof v === 'function') continue;
    parts.push(JSON.stringify(k) + ':' + stringify(v));
  }
  return '{' + parts.join(',') + '}';
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const unstorable = (s: string) => s.includes('\u0000') || LONE_SURROGATE.test(s);

/**
 * True when a string or key anywhere in a parsed JSON value (or form, query or params object) is text that
 * PostgreSQL cannot store: a NUL character, or a lone UTF-16 surrogate (no UTF-8 encoding). Every family refuses
 * it at its edge as a parameter error, never as a database error. Iterative, so deep nesting cannot overflow the stack.
 */
export function containsUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (unstorable(v)) return true;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (unstorable(k)) return true;
        stack.push(x);
      }
    }
  }
  return false;
}
