import type { Batch, Detail } from '../pay/payouts/service.ts';
import { PAY_CURRENCIES } from '../pay/orders/service.ts';
import { csvLines } from '../platform/csv.ts';
import { displayAmount } from '../web/amount.ts';
import { html } from '../web/html.ts';
import { BASE, card, flashBox, hidden, time, type ViewCtx } from './views.ts';

export interface PayoutForm {
  requestId?: string;
  batchName?: string;
  currency?: string;
  transferMethod?: string;
  lines?: string;
  error?: string;
}

const FINAL_OK = new Set(['SUCCESS']);
const FINAL_BAD = new Set(['FAILED', 'FAIL', 'CANCELED', 'REFUNDED']);
const statusTag = (s: string) =>
  html`<span class="${FINAL_OK.has(s) ? 'ok' : FINAL_BAD.has(s) ? 'bad' : ''}">${s.replaceAll('_', ' ')}</span>`;

/** What a detail's status means to the merchant, in words. */
const DETAIL_MEANING: Record<string, string> = {
  PROCESSING: 'being paid',
  SUCCESS: 'paid',
  FAIL: 'not paid; the reserved amount is back in your wallet',
  AWAITING_RECEIPT: 'waiting for the recipient to sign up and verify (72 hours)',
  REFUNDED: 'not claimed in 72 hours; the amount is back in your wallet',
};

/** The batch list and the new-batch form. */
export function payoutsView(ctx: ViewCtx, batches: Batch[], form: PayoutForm) {
  const option = (value: string, label: string, selected?: string) =>
    html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
  return html`${flashBox({ error: form.error })}
    ${card(html`<h1>Payouts</h1>
      <p class="muted">Pay many people at once from your balance. Each line is one recipient:
        <span class="mono">receiveType,receiver,amount,remark</span>, where receiveType is BINANCE_ID, PAY_ID or EMAIL.
        E-mail recipients without an account are invited and have 72 hours to claim.</p>
      <form method="post" action="${BASE}/payouts" id="payout-form">${hidden(ctx.csrf)}
        <input type="hidden" name="requestId" value="${form.requestId ?? ''}">
        <label for="batchName">Batch name</label><input id="batchName" type="text" name="batchName" maxlength="32"
        value="${form.batchName ?? ''}" required>
        <div class="grid2">
          <div><label for="currency">Currency</label><select id="currency" name="currency">
            ${PAY_CURRENCIES.map((c) => option(c, c, form.currency ?? 'USDT'))}</select></div>
          <div><label for="transferMethod">Pay from</label><select id="transferMethod" name="transferMethod">
            ${option('FUNDING_WALLET', 'Funding wallet', form.transferMethod)}
            ${option('SPOT_WALLET', 'Spot wallet', form.transferMethod)}</select>
            </div>
        </div>
        <label for="lines">Recipients</label>
        <textarea id="lines" name="lines"
        placeholder="EMAIL,alice@example.com,10.5,March \
rewards&#10;BINANCE_ID,1000140001234,3">${form.lines ?? ''}</textarea>
        <label for="csv">…or load a CSV file</label><input id="csv" type="file" accept=".csv,text/csv,text/plain"
        data-fill="lines">
        <button class="btn" type="submit">Send payout</button></form>`)}
    ${card(html`<h2>Batches</h2>
      ${
        batches.length === 0
          ? html`<p class="muted" id="no-batches">No payouts yet. Batches sent here or through /payout/transfer appear \
in this list.</p>`
          : html`<ul class="list" id="batches">${batches.map(
              (b) => html`<li><div class="row">
                <a href="${BASE}/payouts/${b.requestId}">${b.batchName}</a><strong>${displayAmount(b.totalAmount, b.currency)}</strong></div>
              <div class="row small muted">
              <span>${time(b.createdAt)} · ${b.totalNumber} \
recipient${b.totalNumber === 1 ? '' : 's'}</span>${statusTag(b.status)}</div></li>`,
            )}</ul>`
      }`)}`;
}

/** One batch: totals, and each detail with what its status means. */
export function payoutBatchView(r: { batch: Batch; details: Detail[]; paid: string; fees: string }, created: boolean) {
  const b = r.batch;
  const open = b.status === 'ACCEPTED' || b.status === 'PROCESSING';
  return html`${
    created
      ? html`<div class="flash"
    id="flash">Batch accepted. The amounts are reserved and being paid; this page shows each recipient's result.</div>`
      : ''
  }
    ${card(html`<h1>${b.batchName}</h1>
      <div class="row"><span>Status</span>${statusTag(b.status)}</div>
      <div class="row"><span>Request ID</span><span class="mono">${b.requestId}</span></div>
      <div class="row"><span>Created</span><span>${time(b.createdAt)}</span></div>
      <div class="row"><span>Total</span><span>${displayAmount(b.totalAmount, b.currency)}</span></div>
      <div class="row"><span>Paid</span><span id="paid">${displayAmount(r.paid, b.currency)}</span></div>
      <div class="row"><span>Fees</span><span>${displayAmount(r.fees, b.currency)}</span></div>
      ${open ? html`<p class="muted">Still processing: reload to see the latest results.</p>` : ''}
      <div class="actions"><a class="btn secondary" id="download"
      href="${BASE}/payouts/${b.requestId}.csv">Download CSV</a>
      <a class="btn secondary" href="${BASE}/payouts">All payouts</a></div>`)}
    ${card(
      html`<h2>Recipients</h2><ul class="list" id="details">${r.details.map(
        (
          d,
        ) => html`<li><div class="row"><span class="mono">${d.receiver}</span><strong>${displayAmount(d.amount, b.currency)}</strong>
          </div>
        <div class="row small muted"><span>${d.receiveType} · from \
${
  d.transferMethod === 'SPOT_WALLET' ? 'spot' : 'funding'
}${d.remark ? html` · ${d.remark}` : ''}</span>${statusTag(d.status)}</div>
        <div class="small \
muted">${DETAIL_MEANING[d.status] ?? ''}${
          d.status === 'AWAITING_RECEIPT' && d.claimDeadline ? html` (until ${time(d.claimDeadline)})` : ''
        }</div>
</li>`,
      )}</ul>`,
    )}`;
}

/** The batch as CSV: one line per detail, with its result. */
export function payoutCsv(r: { batch: Batch; details: Detail[] }): string {
  const head = [
    'Order ID',
    'Merchant Send ID',
    'Receive Type',
    'Receiver',
    'Transfer Method',
    'Currency',
    'Amount',
    'Fee',
    'Status',
    'Payee ID',
    'Remark',
    'Created',
    'Finished',
  ];
  const rows = r.details.map((d) => [
    d.orderId,
    d.merchantSendId,
    d.receiveType,
    d.receiver,
    d.transferMethod,
    r.batch.currency,
    d.amount,
    d.feeCharged,
    d.status,
    d.payeeId,
    d.remark,
    time(d.createdAt),
    d.finishedAt === null ? '' : time(d.finishedAt),
  ]);
  return csvLines([head, ...rows]);
}
