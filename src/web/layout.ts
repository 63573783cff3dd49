import { html, trusted, type SafeHtml } from './html.ts';

/**
 * The page frame shared by every page family (checkout, buy flow, wallet, merchant dashboard, partner portal, operator
 * console, mailbox): mobile-first, no external assets, one visual language. A family's own CSS keeps only what no
 * other family has.
 *
 * Classes every family may use:
 * - `main.wide` (the `wide` option of `page`): back-office pages (dashboard, portal, console) get 1100 px on a desktop;
 *   customer pages (checkout, buy flow) stay a 480 px column.
 * - `nav`: the navigation bar of a logged-in area, a white bar whose links wrap; put Log out in a `form.inline`.
 * - `.card`: a white box; `h1`/`h2` inside. `.row`: a label/value line (`<div class="row"><span>…</span><span>…`).
 * - `.btn` (yellow, full width), `.btn.secondary` (grey); inside `.inline` or `.actions` they size to their text.
 *   `form.inline`: a one-button form in a line of text or a table cell. `.actions`: a wrapping row of buttons/forms.
 * - Form controls (`input` of any text-like type, `select`, `textarea`, `input[type=file]`) are full width, 16 px (no
 *   zoom on a phone) and at least 44 px tall; `.choice` is a checkbox/radio line.
 * - `.flash` (green, a done action), `.error` (red), `.muted` (grey small text), `.small`, `.mono` (ids, keys,
 *   addresses: monospace, wraps anywhere when too long), `.ok`/`.bad` (coloured text), `.nowrap`.
 * - `.status.ok|bad|wait`: a coloured status box; `.tag` (red) and `.tag.ok|wait|plain`: a small inline label.
 * - Tables: `dataTable(...)` below builds a table that becomes one card per row on a phone (each cell labelled by its
 *   column; `cards: false` keeps a narrow table a table, scrolling in its own box). A table written by hand becomes
 *   cards with `class="cards"` and `data-label` on each `td`, or scrolls inside its own box when wrapped in
 *   `<div class="table">` (`.scroll` is the same). The page itself never scrolls sideways.
 * - `.list`: an unstyled list of rows separated by lines; `.grid2`: two columns on a desktop, one on a phone.
 */
const CSS = [
  `*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;`,
  `background:#f5f5f5;color:#1e2329;line-height:1.4}`,
  `header{background:#1e2329;color:#fcd535;padding:12px 16px;font-weight:700;display:flex;`,
  `justify-content:space-between;align-items:center}`,
  `header .mode{font-size:12px;color:#b7bdc6;font-weight:400}`,
  `main{max-width:480px;margin:0 auto;padding:16px}main.wide{max-width:1100px}`,
  `.card{background:#fff;border-radius:12px;padding:16px;margin-bottom:16px;box-shadow:0 1px 3px rgba(0,0,0,.08);`,
  `min-width:0;overflow-wrap:anywhere}`,
  `h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:16px 0 8px}.card>h2:first-child{margin-top:0}`,
  `a{color:#1e2329;text-decoration:underline;text-decoration-color:#f0b90b;text-decoration-thickness:2px;`,
  `text-underline-offset:3px}a:hover{color:#000;text-decoration-color:#1e2329}`,
  `.amount{font-size:28px;font-weight:700;margin:8px 0}.muted{color:#707a8a;font-size:14px}.small{font-size:12px}`,
  `.ok{color:#03a66d}.bad{color:#cf304a}.nowrap{white-space:nowrap}`,
  `code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}`,
  `pre{white-space:pre-wrap;font-size:13px;background:#f5f5f5;padding:8px;border-radius:8px}`,
  `.row{display:flex;justify-content:space-between;gap:12px;padding:6px 0;border-bottom:1px solid #eaecef;`,
  `font-size:14px}.row:last-child{border-bottom:0}`,
  `.row>:first-child{flex:none;max-width:50%}.row>:last-child{min-width:0;text-align:right}`,
  // nav: the logged-in navigation of back-office pages.
  `nav{display:flex;flex-wrap:wrap;gap:4px 16px;align-items:center;background:#fff;border-radius:12px;`,
  `padding:8px 16px;margin-bottom:16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}`,
  `nav a{text-decoration:none;padding:8px 0;font-weight:500;border-bottom:2px solid transparent}`,
  `nav a:hover,nav a[aria-current=page]{border-bottom-color:#fcd535}nav .who{font-weight:700;margin-right:8px}`,
  `nav .who .muted{font-weight:400}`,
  `nav form.inline{margin-left:auto}`,
  // buttons
  `.btn{display:block;width:100%;min-height:44px;padding:12px;border:0;border-radius:8px;background:#fcd535;`,
  `color:#1e2329;font-size:16px;font-weight:600;font-family:inherit;text-align:center;text-decoration:none;`,
  `cursor:pointer;margin-top:8px}.btn:hover{background:#f0b90b;color:#1e2329}`,
  `.btn.secondary{background:#eaecef}.btn.secondary:hover{background:#dcdfe3}`,
  `.btn:disabled{opacity:.5;cursor:not-allowed}`,
  `.inline{display:inline}.inline .btn,.actions .btn{display:inline-block;width:auto;min-height:40px;`,
  `padding:8px 14px;font-size:14px;margin:0}`,
  `.actions{display:flex;flex-wrap:wrap;gap:8px;margin-top:8px;align-items:center}.actions form{margin:0}`,
  // form controls
  `label{display:block;font-size:14px;margin:12px 0 4px;font-weight:500}`,
  `input:not([type]),input[type=email],input[type=password],input[type=text],input[type=number],input[type=date],`,
  `input[type=url],input[type=search],input[type=tel],select,textarea{display:block;width:100%;min-height:44px;`,
  `padding:10px;border:1px solid #d0d4da;border-radius:8px;font-size:16px;font-family:inherit;background:#fff;`,
  `color:#1e2329}`,
  `input:focus,select:focus,textarea:focus{outline:2px solid #fcd535;outline-offset:0;border-color:#c99400}`,
  `textarea{min-height:96px;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;resize:vertical}`,
  `input[type=file]{display:block;width:100%;padding:8px;border:1px dashed #b7bdc6;border-radius:8px;`,
  `font-size:16px;background:#fff}`,
  `input[type=file]::file-selector-button{min-height:40px;padding:8px 14px;margin-right:12px;border:0;`,
  `border-radius:8px;background:#eaecef;color:#1e2329;font:600 14px system-ui,sans-serif;cursor:pointer}`,
  `input[type=checkbox],input[type=radio]{width:20px;height:20px;flex:none;accent-color:#1e2329}`,
  `.choice{display:flex;align-items:center;gap:8px;padding:8px;border:1px solid #eaecef;border-radius:8px;`,
  `margin:6px 0;font-weight:400}`,
  // messages and labels
  `.qr{display:block;margin:8px auto;width:200px;height:200px}`,
  `.status{padding:8px 12px;border-radius:8px;font-weight:600;text-align:center}`,
  `.status.ok{background:#e6f7ee;color:#03a66d}.status.bad{background:#fdecee;color:#cf304a}`,
  `.status.wait{background:#fff8e1;color:#a17a00}`,
  `.error{background:#fdecee;color:#cf304a;padding:8px 12px;border-radius:8px;margin:8px 0}`,
  `.flash{background:#e6f7ee;color:#03a66d;padding:8px 12px;border-radius:8px;margin:8px 0}`,
  `.tag{display:inline-block;font-size:12px;padding:2px 6px;border-radius:6px;background:#fdecee;color:#cf304a;`,
  `margin-left:auto}.tag.ok{background:#e6f7ee;color:#03a66d}.tag.wait{background:#fff8e1;color:#a17a00}`,
  `.tag.plain{background:#eaecef;color:#474d57}`,
  `.countdown{font-variant-numeric:tabular-nums;font-weight:600}`,
  `.steps{display:flex;list-style:none;padding:0;margin:12px 0;gap:4px}`,
  `.steps li{flex:1;text-align:center;font-size:12px;color:#707a8a;padding-top:8px;border-top:4px solid #eaecef;`,
  `overflow-wrap:anywhere}`,
  `.steps li.done{border-color:#03a66d;color:#1e2329}.steps li.current{border-color:#fcd535;color:#1e2329;`,
  `font-weight:700}.steps li.failed{border-color:#cf304a;color:#cf304a;font-weight:700}`,
  // lists and grids
  `.list{list-style:none;padding:0;margin:0}.list li{padding:10px 0;border-bottom:1px solid #eaecef}`,
  `.list .row{flex-wrap:wrap;border-bottom:0;padding:2px 0}`,
  `.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:0 16px}`,
  // tables: scroll inside their own box, or become cards on a phone
  `.table,.scroll{overflow-x:auto;max-width:100%}`,
  `table{width:100%;border-collapse:collapse;font-size:14px}`,
  `th,td{text-align:left;padding:8px 6px;border-bottom:1px solid #eaecef;vertical-align:top}`,
  `th{font-size:12px;color:#707a8a;font-weight:600;white-space:nowrap}`,
  `td .btn{margin:0}`,
  `@media (max-width:600px){`,
  `table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}`,
  `table.cards thead{display:none}table.cards tr{padding:8px 0;border-bottom:1px solid #eaecef}`,
  // The label floats left of the value, so a cell of several pieces (text, a line break, a form) stays one value.
  `table.cards td{border:0;padding:3px 0;text-align:right;overflow-wrap:anywhere;display:flow-root}`,
  `table.cards td::before{content:attr(data-label);float:left;max-width:45%;padding:2px 12px 0 0;color:#707a8a;`,
  `font:12px system-ui,sans-serif;text-align:left;overflow-wrap:normal}`,
  `table.cards td:not([data-label])::before,table.cards td[data-label=""]::before{display:none}`,
  `table.cards td:empty{display:none}`,
  `nav{gap:0 14px;padding:6px 16px}nav a{padding:6px 0}nav .who{flex-basis:100%;padding-top:4px}`,
  `}`,
].join('\n');

/** One column of a `dataTable`: its heading (also the cell's label on a phone) and the cell's content. */
export interface Column<T> {
  label: string;
  cell: (row: T) => unknown;
  /** The `td`'s class, e.g. for tests or `mono`. */
  cls?: string;
}

/**
 * A table that fits a phone: a normal table on a desktop, one card per row below 600 px (each cell shown with its
 * column's label). `rowAttrs` adds attributes to a row's `tr` (e.g. html` data-key="${k}"`).
 */
export function dataTable<T>(opts: {
  id?: string;
  columns: Column<T>[];
  rows: T[];
  rowAttrs?: (row: T) => SafeHtml;
  cls?: string;
  /** false: a narrow table that stays a table on a phone (in its own scrolling box should it ever be too wide). */
  cards?: boolean;
}): SafeHtml {
  const { columns } = opts;
  const cls = [opts.cards === false ? '' : 'cards', opts.cls ?? ''].filter(Boolean).join(' ');
  const table = html`<table${cls ? html` class="${cls}"` : ''}${opts.id ? html` id="${opts.id}"` : ''}>
<thead><tr>${columns.map((c) => html`<th>${c.label}</th>`)}</tr></thead><tbody>${opts.rows.map(
    (r) =>
      html`<tr${opts.rowAttrs ? opts.rowAttrs(r) : ''}>${columns.map(
        (c) => html`<td data-label="${c.label}"${c.cls ? html` class="${c.cls}"` : ''}>${c.cell(r)}</td>`,
      )}</tr>`,
  )}</tbody></table>`;
  return opts.cards === false ? html`<div class="table">${table}</div>` : table;
}

export function page(opts: {
  title: string;
  body: SafeHtml;
  mode: string;
  scripts?: string[];
  /** Back-office pages (dashboard, partner portal, console): a wide main on a desktop. */
  wide?: boolean;
}): string {
  return (
    '<!doctype html>' +
    html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${opts.title} · Rampart</title><style>${trusted(CSS)}</style></head>
<body><header><span>Rampart Pay</span><span class="mode">${opts.mode === 'sandbox' ? 'SANDBOX' : ''}</span></header>
<main${opts.wide ? html` class="wide"` : ''}>${opts.body}</main>${(opts.scripts ?? []).map(
      (s) => html`<script src="${s}" defer></script>`,
    )}</body></html>`.value
  );
}
