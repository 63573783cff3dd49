import type { AssetNetwork } from '../chain/networks.ts';
import type { AutoSetting, SettlementAddress, SettlementQuote, SettlementView } from '../pay/settlement/service.ts';
import type { Balance } from '../platform/ledger/service.ts';
import { html, type SafeHtml } from '../web/html.ts';
import { dataTable } from '../web/layout.ts';
import { BASE, card, flashBox, hidden, time, type Flash, type ViewCtx } from './views.ts';

/** What was typed into a settlement form, kept when the form is refused. */
export interface SettlementForms {
  add?: { assetNetwork?: string; address?: string; memo?: string; label?: string };
  withdraw?: { addressId?: string; amount?: string };
  auto?: { addressId?: string; mode?: string; threshold?: string };
}

const S = `${BASE}/settlement`;
const option = (value: string, label: string, selected?: string) =>
  html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;

const ADDRESS_STATUS: Record<SettlementAddress['status'], string> = {
  PENDING_CODE: 'waiting for the e-mailed code',
  COOLING_OFF: 'cooling-off',
  ACTIVE: 'active',
  REMOVED: 'removed',
  REJECTED: 'code not confirmed',
};

/** What each settlement status means to the merchant, in words. */
const SETTLEMENT_MEANING: Record<SettlementView['status'], string> = {
  REQUESTED: 'being prepared',
  WITHDRAWING: 'on its way: the amount is reserved from your balance',
  COMPLETED: 'sent and confirmed on chain',
  FAILED: 'the network refused it; the amount is back in your balance',
  REJECTED: 'not sent: your balance did not cover it; nothing was taken',
  CANCELLED: 'cancelled; the amount is back in your balance',
};

const statusTag = (s: string) =>
  html`<span class="${s === 'COMPLETED' || s === 'ACTIVE' ? 'ok' : ['FAILED', 'REJECTED', 'CANCELLED'].includes(s) ? 'bad' : ''}">${s.replaceAll('_', ' ')}</span>`;

const addressLine = (a: { address: string; memo: string }) =>
  html`<span class="mono">${a.address}</span>${a.memo ? html` <span class="muted">memo ${a.memo}</span>` : ''}`;

function chainLine(s: SettlementView): SafeHtml {
  const c = s.chain;
  if (!c) return html``;
  const waiting = c.waitingReason
    ? html` · <span id="waiting">waiting for the platform's hot wallet to be topped up; it will be sent then</span>`
    : '';
  const tx = c.txHash
    ? c.txUrl
      ? html` · <a class="mono" href="${c.txUrl}" rel="noopener noreferrer" target="_blank">${c.txHash}</a>`
      : html` · <span class="mono">${c.txHash}</span>`
    : '';
  return html`<div class="small muted">chain: ${c.status} · ${Math.min(c.confirmations, c.confirmationsRequired)}/\
${c.confirmationsRequired} confirmations${waiting}${tx}</div>`;
}

/** The settlement page: balances, the withdraw form, addresses, adding one, automatic settlement, history. */
export function settlementView(
  ctx: ViewCtx,
  d: {
    balances: Balance[];
    addresses: SettlementAddress[];
    history: SettlementView[];
    auto: AutoSetting[];
    assetNetworks: AssetNetwork[];
    now: number;
  },
  flash?: Flash,
  forms: SettlementForms = {},
) {
  const active = d.addresses.filter((a) => a.status === 'ACTIVE');
  const label = (a: SettlementAddress) => `${a.label} · ${a.asset} on ${a.network} · ${a.address.slice(0, 10)}…`;
  const add = forms.add ?? {};
  const w = forms.withdraw ?? {};
  const au = forms.auto ?? {};
  return html`${flashBox(flash)}
    ${card(html`<h1>Settlement</h1>
      <p class="muted">Take your balance out to your own addresses. Only whitelisted addresses can receive: adding one
        needs a code sent to your e-mail, and it can be used 24 hours after that.</p>
      ${dataTable({
        id: 'settle-balances',
        rows: d.balances,
        columns: [
          { label: 'Asset', cell: (b) => b.asset },
          { label: 'Available', cell: (b) => b.available },
          { label: 'Reserved', cell: (b) => b.held },
        ],
      })}${d.balances.length === 0 ? html`<p class="muted">No balance yet.</p>` : ''}`)}
    ${card(html`<h2>Withdraw</h2>
      ${
        active.length === 0
          ? html`<p class="muted" id="no-active">No active address yet. Add one below; it becomes usable after the \
code and the 24-hour cooling-off period.</p>`
          : html`<form method="post" action="${S}/withdraw/review" id="withdraw-form">${hidden(ctx.csrf)}
        <label for="w-address">To</label><select id="w-address" name="addressId">
          ${active.map((a) => option(a.id, label(a), w.addressId))}</select>
        <label for="w-amount">Amount taken from your balance</label><input id="w-amount" type="text"
        inputmode="decimal" name="amount" value="${w.amount ?? ''}" placeholder="0.00" required>
        <p class="small muted">The network fee is taken from this amount; you see it before you confirm.</p>
        <button class="btn" type="submit">Review</button></form>`
      }`)}
    ${card(html`<h2>Whitelisted addresses</h2>
      ${
        d.addresses.length === 0
          ? html`<p class="muted" id="no-addresses">No addresses yet.</p>`
          : html`<ul class="list" id="addresses">${d.addresses.map(
              (a) => html`<li><div class="row"><strong>${a.label}</strong>${statusTag(a.status)}</div>
            <div class="small">${a.asset} on ${a.network} · ${addressLine(a)}</div>
            <div class="small muted">${
              a.status === 'COOLING_OFF'
                ? html`usable from ${time(a.activeAt)}`
                : a.status === 'PENDING_CODE' && a.codeExpiresAt !== null && a.codeExpiresAt <= d.now
                  ? html`the code has expired: remove it and add the address again`
                  : a.status === 'PENDING_CODE'
                    ? html`<a href="${S}/addresses/${a.id}/confirm">Enter the e-mailed code</a> (valid until \
${time(a.codeExpiresAt)})`
                    : ADDRESS_STATUS[a.status]
            }</div>
            <form class="inline" method="post" action="${S}/addresses/${a.id}/remove">${hidden(ctx.csrf)}<button
            class="btn secondary" type="submit">Remove</button></form></li>`,
            )}</ul>`
      }`)}
    ${card(html`<h2>Add an address</h2>
      <form method="post" action="${S}/addresses" id="add-form">${hidden(ctx.csrf)}
        <label for="a-asset">Asset and network</label><select id="a-asset" name="assetNetwork">
          ${d.assetNetworks.map((an) =>
            option(`${an.asset}:${an.network}`, `${an.asset} on ${an.network}`, add.assetNetwork),
          )}</select>
        <label for="a-address">Address</label><input id="a-address" type="text" name="address" autocomplete="off"
        value="${add.address ?? ''}" required>
        <label for="a-memo">Memo / tag (only where the network needs one)</label><input id="a-memo" type="text"
        name="memo" value="${add.memo ?? ''}">
        <label for="a-label">Label</label><input id="a-label" type="text" name="label" maxlength="64"
        value="${add.label ?? ''}" placeholder="e.g. Treasury cold wallet" required>
        <button class="btn" type="submit">Send me a code</button></form>`)}
    ${card(html`<h2>Automatic settlement</h2>
      <p class="muted">Send the whole available balance of an asset to one active address every day at 00:00 UTC, or
        whenever it exceeds a threshold.</p>
      ${
        d.auto.length === 0
          ? html`<p class="muted" id="no-auto">No automatic settlement.</p>`
          : html`<ul class="list" id="auto">${d.auto.map((x) => {
              const a = d.addresses.find((y) => y.id === x.addressId);
              return html`<li><div class="row"><strong>${x.asset} on ${x.network}</strong>${
                x.enabled ? html`<span class="ok">on</span>` : html`<span class="bad">off</span>`
              }</div>
              <div class="small">${
                x.mode === 'DAILY' ? html`daily, next at ${time(x.nextDueAt)}` : html`above ${x.threshold} ${x.asset}`
              } → ${a ? a.label : 'a removed address'}</div>
              ${
                x.enabled
                  ? html`<form class="inline" method="post" action="${S}/auto">${hidden(ctx.csrf)}
                <input type="hidden" name="addressId" value="${x.addressId}"><input type="hidden" name="mode"
                value="${x.mode}"><input type="hidden" name="threshold" value="${x.threshold ?? ''}">
                <input type="hidden" name="enabled" value="0"><button class="btn secondary"
                type="submit">Turn off</button></form>`
                  : ''
              }</li>`;
            })}</ul>`
      }
      ${
        active.length === 0
          ? html`<p class="small muted">Needs an active address.</p>`
          : html`<form method="post" action="${S}/auto" id="auto-form">${hidden(ctx.csrf)}
        <input type="hidden" name="enabled" value="1">
        <label for="au-address">To</label><select id="au-address" name="addressId">
          ${active.map((a) => option(a.id, label(a), au.addressId))}</select>
        <div class="grid2"><div><label for="au-mode">When</label><select id="au-mode" name="mode">
          ${option('DAILY', 'Daily at 00:00 UTC', au.mode)}${option('THRESHOLD', 'Above a threshold', au.mode)}
          </select></div>
          <div><label for="au-threshold">Threshold (above a threshold only)</label><input id="au-threshold"
          type="text" inputmode="decimal" name="threshold" value="${au.threshold ?? ''}"></div></div>
        <button class="btn" type="submit">Save automatic settlement</button></form>`
      }`)}
    ${card(html`<h2>History</h2>
      ${
        d.history.length === 0
          ? html`<p class="muted" id="no-history">No withdrawals yet.</p>`
          : html`<ul class="list" id="history">${d.history.map(
              (s) => html`<li><div class="row"><a href="${S}/withdrawals/${s.id}">${s.receive} ${s.asset} to \
${s.label}</a>${statusTag(s.status)}</div>
            <div class="small muted">${time(s.createdAt)} · ${s.network} · ${s.source.replace('_', ' ').toLowerCase()} \
· ${SETTLEMENT_MEANING[s.status]}</div>${chainLine(s)}</li>`,
            )}</ul>`
      }`)}`;
}

/** The e-mailed code form of a pending address. */
export function confirmCodeView(ctx: ViewCtx, a: SettlementAddress, error?: string) {
  return html`${flashBox({ error })}${card(html`<h1>Confirm the address</h1>
    <p>We sent a 6-digit code to your e-mail. Enter it to whitelist:</p>
    <p><strong>${a.label}</strong> · ${a.asset} on ${a.network}<br>${addressLine(a)}</p>
    <p class="small muted">After the code, the address can receive withdrawals 24 hours later (cooling-off period).</p>
    <form method="post" action="${S}/addresses/${a.id}/confirm" id="code-form">${hidden(ctx.csrf)}
      <label for="code">Code</label><input id="code" type="text" name="code" inputmode="numeric" maxlength="6"
      autocomplete="one-time-code" required>
      <button class="btn" type="submit">Confirm</button></form>
    <div class="actions"><a class="btn secondary" href="${S}">Back to settlement</a></div>`)}`;
}

/** The review before confirming a withdrawal: the fee and what arrives. */
export function reviewView(ctx: ViewCtx, q: SettlementQuote, requestKey: string) {
  const a = q.address;
  return html`${card(html`<h1>Confirm the withdrawal</h1>
    <div class="row"><span>To</span><span><strong>${a.label}</strong></span></div>
    <div class="row"><span>Address</span>${addressLine(a)}</div>
    <div class="row"><span>Network</span><span>${a.network}</span></div>
    <div class="row"><span>Taken from your balance</span><span id="r-amount">${q.amount} ${a.asset}</span></div>
    <div class="row"><span>Network fee</span><span id="r-fee">${q.fee} ${a.asset}</span></div>
    <div class="row"><span>Arrives</span><strong id="r-receive">${q.receive} ${a.asset}</strong></div>
    <p class="small muted">A withdrawal on chain cannot be undone once sent. Check the address.</p>
    <form method="post" action="${S}/withdraw/confirm" id="confirm-form">${hidden(ctx.csrf)}
      <input type="hidden" name="addressId" value="${a.id}"><input type="hidden" name="amount" value="${q.amount}">
      <input type="hidden" name="requestKey" value="${requestKey}">
      <button class="btn" type="submit">Confirm withdrawal</button></form>
    <div class="actions"><a class="btn secondary" href="${S}">Change</a></div>`)}`;
}

/** One settlement: its status in words, the chain's progress and the transaction link. */
export function settlementDetailView(s: SettlementView, created: boolean) {
  const open = s.status === 'REQUESTED' || s.status === 'WITHDRAWING';
  return html`${
    created
      ? html`<div class="flash" id="flash">Withdrawal accepted: ${s.amount} ${s.asset} reserved from your balance.</div>`
      : ''
  }${card(html`<h1>${s.receive} ${s.asset} to ${s.label}</h1>
    <div class="row"><span>Status</span>${statusTag(s.status)}</div>
    <p class="muted" id="meaning">${SETTLEMENT_MEANING[s.status]}${s.failure && !open ? html` (${s.failure})` : ''}</p>
    <div class="row"><span>Address</span>${addressLine(s)}</div>
    <div class="row"><span>Network</span><span>${s.network}</span></div>
    <div class="row"><span>Amount</span><span>${s.amount} ${s.asset}</span></div>
    <div class="row"><span>Network fee</span><span>${s.fee} ${s.asset}</span></div>
    <div class="row"><span>Created</span><span>${time(s.createdAt)}</span></div>
    ${chainLine(s)}
    ${open ? html`<p class="muted">Still in progress: reload to see the latest confirmations.</p>` : ''}
    <div class="actions"><a class="btn secondary" href="${S}">Back to settlement</a></div>`)}`;
}
