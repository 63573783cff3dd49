import { html, trusted, type SafeHtml } from './html.ts';

/** The page frame shared by every page: mobile-first, no external assets. */
const CSS =
  `
*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,"Segoe ` +
  `UI",Roboto,sans-serif;background:#f5f5f5;color:#1e2329}
header{background:#1e2329;color:#fcd535;padding:12px ` +
  `16px;font-weight:700;display:flex;justify-content:space-between;align-items:center}
header .mode{font-size:12px;color:#b7bdc6;font-weight:400}
main{max-width:480px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:12px;padding:16px;margin-bottom:16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:0 0 8px}
.amount{font-size:28px;font-weight:700;margin:8px 0}.muted{color:#707a8a;font-size:14px}
.row{display:flex;justify-content:space-between;gap:12px;padding:6px 0;border-bottom:1px solid ` +
  `#eaecef;font-size:14px}.row:last-child{border-bottom:0}
.row>:first-child{flex:none;max-width:50%}.row>:last-child{min-width:0;text-align:right}
.btn{display:block;width:100%;padding:12px;border:0;border-radius:8px;background:#fcd535;color:#1e2329;` +
  `font-size:16px;font-weight:600;text-align:center;text-decoration:none;cursor:pointer;margin-top:8px}
.btn.secondary{background:#eaecef}.btn:disabled{opacity:.5;cursor:not-allowed}
label{display:block;font-size:14px;margin:8px 0 4px}` +
  `input[type=email],input[type=password],input[type=text]{width:100%;padding:10px;border:1px solid ` +
  `#d0d4da;border-radius:8px;font-size:16px}
.qr{display:block;margin:8px auto;width:200px;height:200px}
.status{padding:8px 12px;border-radius:8px;font-weight:600;text-align:center}
.status.ok{background:#e6f7ee;color:#03a66d}.status.bad{background:#fdecee;color:#cf304a}` +
  `.status.wait{background:#fff8e1;color:#a17a00}
.error{background:#fdecee;color:#cf304a;padding:8px 12px;border-radius:8px;margin:8px 0}
.choice{display:flex;align-items:center;gap:8px;padding:8px;border:1px solid #eaecef;border-radius:8px;margin:6px 0}
.countdown{font-variant-numeric:tabular-nums;font-weight:600}
.steps{display:flex;list-style:none;padding:0;margin:12px 0;gap:4px}
.steps li{flex:1;text-align:center;font-size:12px;color:#707a8a;padding-top:8px;border-top:4px solid ` +
  `#eaecef;overflow-wrap:anywhere}
.steps li.done{border-color:#03a66d;color:#1e2329}` +
  `.steps li.current{border-color:#fcd535;color:#1e2329;font-weight:700}` +
  `.steps li.failed{border-color:#cf304a;color:#cf304a;font-weight:700}
.tag{display:inline-block;font-size:12px;padding:2px ` +
  `6px;border-radius:6px;background:#fdecee;color:#cf304a;margin-left:auto}
`;

export function page(opts: { title: string; body: SafeHtml; mode: string; scripts?: string[] }): string {
  return (
    '<!doctype html>' +
    html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${opts.title} · Rampart</title><style>${trusted(CSS)}</style></head>
<body><header><span>Rampart Pay</span><span class="mode">${opts.mode === 'sandbox' ? 'SANDBOX' : ''}</span></header>
<main>${opts.body}</main>${(opts.scripts ?? []).map((s) => html`<script src="${s}" defer></script>`)}</body></html>`
      .value
  );
}
