import type { DailyFile, StatementService } from '../pay/statements/service.ts';
import { html } from '../web/html.ts';
import { BASE, card, flashBox, hidden, time, type ViewCtx } from './views.ts';

export interface FilesQuery {
  kind?: string;
  from?: string;
  to?: string;
}
type BalanceReports = Awaited<ReturnType<StatementService['recentBalanceReports']>>;

const KINDS: [string, string][] = [
  ['Transaction:Payment', 'Transactions: payments'],
  ['Transaction:Payout', 'Transactions: payouts'],
  ['Settlement', 'Settlement: payments and refunds'],
];
const WALLETS: [string, string][] = [
  ['', 'Both wallets'],
  ['FUNDING_WALLET', 'Funding wallet'],
  ['SPOT_WALLET', 'Spot wallet'],
];

/** Daily files for a range, and balance reports: request one, see each one's status and link. */
export function statementsView(
  v:
    | { enabled: false }
    | {
        enabled: true;
        ctx: ViewCtx;
        query: FilesQuery;
        files: DailyFile[] | null;
        reports: BalanceReports;
        today: string;
        flash?: { ok?: string; error?: string };
      },
) {
  if (!v.enabled)
    return card(html`<h1>Report files</h1><div class="error" id="flash">Report files are not enabled for this account.
      Ask the operator to enable the reports feature; the daily reconciliation stays available under Reports.</div>`);
  const option = (value: string, label: string, selected?: string) =>
    html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
  const q = v.query;
  return html`${flashBox(v.flash)}
    ${card(html`<h1>Daily files</h1>
      <p class="muted">One file per day with activity (UTC days that have ended), as /report/get-file gives them. \
Links \
work for one hour.</p>
      <form method="get" action="${BASE}/reports/files" id="files-form">
        <label for="kind">File</label><select id="kind"
        name="kind">${KINDS.map(([k, l]) => option(k, l, q.kind))}</select>
        <div class="grid2"><div><label for="from">From</label><input id="from" type="date" name="from"
        value="${q.from ?? ''}" max="${v.today}" required></div>
        <div><label for="to">To</label><input id="to" type="date" name="to" value="${q.to ?? ''}" max="${v.today}"
        required></div></div>
        <button class="btn" type="submit">Show files</button></form>
      ${
        v.files === null
          ? ''
          : v.files.length === 0
            ? html`<p class="muted" id="no-files">No activity on these days, so there are no files.</p>`
            : html`<ul class="list" id="files">${v.files.map(
                (f) => html`<li><div class="row">
                  <span>${f.transactionDate}</span><span \
class="small muted">${f.reportType} · ${f.transactionType}</span></div>
                <div class="row small"><a href="${f.downloadUrl}">${f.fileName}</a><a \
href="${f.downloadUrl}?format=csv">CSV</a></div></li>`,
              )}</ul>`
      }`)}
    ${card(html`<h2>Balance reports</h2>
      <p class="muted">Every movement of your wallets between two dates, with the balance after each. Prepared in the
        background; ready reports can be downloaded for 24 hours. At most 50 a month; today cannot be included.</p>
      <form method="post" action="${BASE}/reports/balance" id="balance-form">${hidden(v.ctx.csrf)}
        <label for="walletType">Wallet</label><select id="walletType"
        name="walletType">${WALLETS.map(([w, l]) => option(w, l))}</select>
        <div class="grid2"><div><label for="startDate">First day</label><input id="startDate" type="date"
        name="startDate" max="${v.today}" required></div>
        <div><label for="endDate">Day after the last</label><input id="endDate" type="date" name="endDate"
        max="${v.today}" required></div></div>
        <button class="btn" type="submit">Request balance report</button></form>
      ${
        v.reports.length === 0
          ? html`<p class="muted" id="no-balance-reports">No balance reports yet.</p>`
          : html`<ul class="list" id="balance-reports">${v.reports.map(
              (r) => html`<li><div class="row">
                <span>${r.startDate} → ${r.endDate}</span><span \
class="${r.status === 'SUCCESS' ? 'ok' : r.status === 'FAILED' ? 'bad' : ''}">${
                r.status === 'PROCESSING' ? 'PREPARING' : r.status
              }</span>
                </div>
              <div class="row small muted">
              <span>${
                r.walletType === 'SPOT_WALLET' ? 'Spot' : r.walletType === 'FUNDING_WALLET' ? 'Funding' : 'Both wallets'
              } \
· requested ${time(r.createdAt)}</span>
              ${
                r.downloadUrl
                  ? html`<span><a href="${r.downloadUrl}">XLSX</a> · <a \
href="${r.downloadUrl}?format=csv">CSV</a></span>`
                  : ''
              }</div></li>`,
            )}</ul>`
      }`)}`;
}
