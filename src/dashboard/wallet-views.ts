import type { Transfer } from '../pay/transfers/service.ts';
import { PAY_CURRENCIES } from '../pay/orders/service.ts';
import type { Balance } from '../platform/ledger/service.ts';
import { displayAmount, displayNumber } from '../web/amount.ts';
import { html } from '../web/html.ts';
import { dataTable } from '../web/layout.ts';
import { BASE, card, flashBox, hidden, time, type Flash, type ViewCtx } from './views.ts';

export type WalletsFlash = Flash & {
  status?: number;
  form?: { currency?: string; amount?: string; direction?: string };
};

function balanceTable(id: string, list: Balance[], frozen: string) {
  return html`${dataTable({
    id,
    rows: list,
    columns: [
      { label: 'Asset', cell: (b) => b.asset },
      { label: 'Available', cell: (b) => displayNumber(b.available, b.asset) },
      { label: frozen, cell: (b) => displayNumber(b.held, b.asset) },
    ],
  })}
    ${list.length === 0 ? html`<p class="muted">No balances yet.</p>` : ''}`;
}

/** Balances of both wallets, the transfer form and the latest transfers. */
export function walletsView(
  ctx: ViewCtx,
  data: { funding: Balance[]; spot: Balance[]; transfers: (Transfer & { createdAt: number })[]; requestId: string },
  flash?: WalletsFlash,
) {
  const f = flash?.form ?? {};
  const option = (value: string, label: string, selected?: string) =>
    html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
  return html`${flashBox(flash)}
    ${card(html`<h1>Balances</h1><h2>Funding wallet</h2>
      <p class="muted">Payments settle here; refunds and payouts are paid from here (frozen: refunds and payouts in \
flight).</p>
      ${balanceTable('balances', data.funding, 'Frozen (refunds and payouts in flight)')}
      <h2>Spot wallet</h2>${balanceTable('spot-balances', data.spot, 'Frozen (payouts in flight)')}`)}
    ${card(html`<h2>Transfer between wallets</h2>
      <form method="post" action="${BASE}/balances/transfer" id="transfer-form">${hidden(ctx.csrf)}
        <input type="hidden" name="requestId" value="${data.requestId}">
        <div class="grid2">
          <div><label for="direction">Direction</label><select id="direction" name="direction">
            ${option('TO_MAIN', 'Funding → Spot', f.direction)}
            ${option('TO_PAY', 'Spot → Funding', f.direction)}</select>
            </div>
          <div><label for="currency">Currency</label><select id="currency" name="currency">
            ${PAY_CURRENCIES.map((c) => option(c, c, f.currency ?? 'USDT'))}</select></div>
        </div>
        <label for="amount">Amount</label><input id="amount" type="text" inputmode="decimal" name="amount"
        value="${f.amount ?? ''}" placeholder="0.00" required>
        <button class="btn" type="submit">Transfer</button></form>`)}
    ${card(html`<h2>Latest transfers</h2>
      ${
        data.transfers.length === 0
          ? html`<p class="muted" id="no-transfers">No transfers yet. Transfers made here or through /wallet/transfer \
appear in this list.</p>`
          : html`<ul class="list" id="transfers">
          ${data.transfers.map(
            (t) =>
              html`<li><div class="row">
                <span>${t.transferType === 'TO_MAIN' ? 'Funding → Spot' : 'Spot → Funding'}</span><strong>${displayAmount(t.amount, t.currency)}</strong></div>
              <div class="row small muted">
              <span>${time(t.createdAt)}</span><span class="${t.status === 'SUCCESS' ? 'ok' : 'bad'}">${t.status}</span>
              </div>
              <div class="small muted mono">tranId ${t.tranId}</div></li>`,
          )}</ul>`
      }`)}`;
}
