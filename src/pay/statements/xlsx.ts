import { csvLines } from '../../platform/csv.ts';
import { strToU8, zipSync } from 'fflate';

/**
 * A one-sheet XLSX workbook (Office Open XML SpreadsheetML), written by hand: the five parts a spreadsheet needs and
 * nothing else. Every cell is an inline string (the report's amounts are text with 8 decimals by decision,
 * binance-pay-extended.md §13.2, so no number formats or styles are needed). The zip container is fflate's.
 */
export function xlsx(sheetName: string, header: string[], rows: string[][]): Uint8Array {
  const sheetRows = [header, ...rows].map(
    (cells, r) =>
      `<row r="${r + 1}">${cells
        .map(
          (v, c) =>
            `<c r="${column(c)}${r + 1}" t="inlineStr"><is><t xml:space="preserve">${escapeXml(v)}</t></is></c>`,
        )
        .join('')}</row>`,
  );
  const parts: Record<string, string> = {
    '[Content_Types].xml':
      `${DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
      `<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
      `<Default Extension="xml" ContentType="application/xml"/>` +
      `<Override PartName="/xl/workbook.xml" ContentType="${SML}.sheet.main+xml"/>` +
      `<Override PartName="/xl/worksheets/sheet1.xml" ContentType="${SML}.worksheet+xml"/>` +
      `</Types>`,
    '_rels/.rels':
      `${DECL}<Relationships xmlns="${PKG_RELS}">` +
      `<Relationship Id="rId1" Type="${DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
    'xl/workbook.xml':
      `${DECL}<workbook xmlns="${MAIN}" xmlns:r="${DOC_RELS}"><sheets>` +
      `<sheet name="${escapeXml(sheetName.slice(0, 31))}" sheetId="1" r:id="rId1"/></sheets></workbook>`,
    'xl/_rels/workbook.xml.rels':
      `${DECL}<Relationships xmlns="${PKG_RELS}">` +
      `<Relationship Id="rId1" Type="${DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`,
    'xl/worksheets/sheet1.xml':
      `${DECL}<worksheet xmlns="${MAIN}"><sheetData>` + `${sheetRows.join('')}</sheetData></worksheet>`,
  };
  return zipSync(Object.fromEntries(Object.entries(parts).map(([name, text]) => [name, strToU8(text)])), {
    level: 6,
    mtime: new Date('2020-01-01T00:00:00Z'),
  });
}

export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

const DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const SML = 'application/vnd.openxmlformats-officedocument.spreadsheetml';
const MAIN = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const PKG_RELS = 'http://schemas.openxmlformats.org/package/2006/relationships';
const DOC_RELS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';

/** A, B, …, Z, AA, … for the zero-based column index. */
export function column(i: number): string {
  let s = '';
  for (let n = i + 1; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

/** XML text: the five entities escaped, characters XML 1.0 cannot carry dropped. */
export function escapeXml(v: string): string {
  return v
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** The same columns as CSV (src/platform/csv.ts: quoting, and no text a spreadsheet would run as a formula). */
export function csv(header: string[], rows: string[][]): string {
  return csvLines([header, ...rows]);
}
