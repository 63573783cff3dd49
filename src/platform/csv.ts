/**
 * CSV for people's spreadsheets (RFC 4180, CRLF line ends): a field with a comma, quote or line break is quoted, and
 * a text that a spreadsheet would run as a formula (=, +, -, @, tab or CR first; OWASP "CSV injection") gets a
 * leading apostrophe. Numbers, negative ones included, are left as they are: a statement's amounts stay numbers.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const NUMBER = /^-?\d+(\.\d+)?$/;

export function csvField(value: string | number | null | undefined): string {
  let s = value === null || value === undefined ? '' : String(value);
  if (FORMULA_START.test(s) && !NUMBER.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvLines(rows: (string | number | null | undefined)[][]): string {
  return rows.map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}
