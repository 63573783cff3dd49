import { PAY_CURRENCIES } from '../pay/orders/service.ts';
import type { QrCode } from '../pay/merchantqr/service.ts';
import { displayAmount } from '../web/amount.ts';
import { html } from '../web/html.ts';
import { BASE, card, flashBox, hidden, time, type Flash, type ViewCtx } from './views.ts';

export interface QrCodeForm {
  qrType?: string;
  label?: string;
  amount?: string;
  currency?: string;
}

const typeText = (c: QrCode) =>
  c.qrType === 'FIXED_AMOUNT' && c.amount && c.currency
    ? displayAmount(c.amount, c.currency)
    : 'Payer enters the amount';

/** The merchant's static QR codes (binance-pay-extended.md §17.3): the new-code form and each code with its image. */
export function merchantQrView(
  ctx: ViewCtx,
  codes: QrCode[],
  content: (code: string) => string,
  form: QrCodeForm = {},
  flash?: Flash,
) {
  const option = (value: string, label: string, selected?: string) =>
    html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
  const fixed = (form.qrType ?? 'FIXED_AMOUNT') === 'FIXED_AMOUNT';
  return html`${flashBox(flash)}
    ${card(html`<h1>QR codes</h1>
      <p class="muted">A printed code customers scan at your counter. When someone scans it you receive a
        MERCHANT_QR_CODE webhook with a referId; create the order with <span class="mono">qrCodeReferId</span> within 5
        minutes and it opens on their phone, payable by them only.</p>
      <form method="post" action="${BASE}/qr-codes" id="qr-form">${hidden(ctx.csrf)}
        <label for="label">Name</label><input id="label" type="text" name="label" maxlength="64"
        placeholder="Counter 1" value="${form.label ?? ''}" required>
        <label class="choice"><input type="radio" name="qrType" value="FIXED_AMOUNT"${fixed ? html` checked` : ''}>
          <span>Fixed amount</span></label>
        <label class="choice"><input type="radio" name="qrType" value="USER_INPUT_AMOUNT"${fixed ? '' : html` checked`}>
          <span>Any amount (you enter it per order)</span></label>
        <div class="grid2">
          <div><label for="amount">Amount (fixed amount only)</label><input id="amount" type="text" name="amount"
          inputmode="decimal" value="${form.amount ?? ''}"></div>
          <div><label for="currency">Currency</label><select id="currency" name="currency">
            ${PAY_CURRENCIES.map((c) => option(c, c, form.currency ?? 'USDT'))}</select></div>
        </div>
        <button class="btn" type="submit" id="register">Create QR code</button></form>`)}
    ${
      codes.length === 0
        ? card(html`<p class="muted" id="no-codes">No QR codes yet.</p>`)
        : html`<div id="codes">${codes.map(
            (c) => html`<div class="card" id="code-${c.code}" data-code="${c.code}">
        <div class="row"><strong>${c.label}</strong>${
          c.disabledAt === null ? html`<span class="tag ok">Active</span>` : html`<span class="tag">Disabled</span>`
        }</div>
        <div class="row"><span>Amount</span><span>${typeText(c)}</span></div>
        <div class="row"><span>Created</span><span>${time(c.createdAt)}</span></div>
        ${
          c.disabledAt === null
            ? html`<img class="qr" src="/qr/${c.code}/qr.png" alt="QR code ${c.label}">
        <p class="small mono" style="text-align:center"><a href="${content(c.code)}">${content(c.code)}</a></p>
        <div class="actions"><form method="get" action="${BASE}/qr-codes/${c.code}/print"><button class="btn secondary"
          type="submit">Print</button></form>
          <form method="post" action="${BASE}/qr-codes/${c.code}/disable">${hidden(ctx.csrf)}<button
          class="btn secondary" type="submit">Disable</button></form></div>`
            : html`<p class="muted">Disabled ${time(c.disabledAt)}: scanning it shows "Code not found".</p>`
        }</div>`,
          )}</div>`
    }`;
}

/** One code large, with its name, amount and link: the page to print and put on the counter. */
export function merchantQrPrintView(merchantName: string, c: QrCode, url: string) {
  return card(html`<div id="print" style="text-align:center">
    <h1>${merchantName}</h1>
    <p>${c.label}</p>
    ${c.qrType === 'FIXED_AMOUNT' && c.amount && c.currency ? html`<div class="amount">${displayAmount(c.amount, c.currency)}</div>` : ''}
    <img src="/qr/${c.code}/qr.png" alt="QR code ${c.label}" style="width:100%;max-width:360px;height:auto">
    <p>Scan with your phone's camera to pay.</p>
    <p class="small mono">${url}</p>
    <p class="muted small">Print this page (your browser's Print) and place it where customers pay.</p></div>`);
}
