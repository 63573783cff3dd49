import { displayAmount } from '../../web/amount.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { Contract } from './service.ts';

/** The payer's direct-debit pages (pure: data in, markup out): the signing page and the account's contract list. */
const date = (ms: number) => new Date(ms).toISOString().slice(0, 10);

const STATUS: Record<string, { text: string; cls: string }> = {
  INITIAL: { text: 'Waiting for your agreement', cls: 'wait' },
  CONTRACT_SIGNED: { text: 'Active', cls: 'ok' },
  CONTRACT_TERMINATED: { text: 'Cancelled', cls: 'bad' },
  CONTRACT_EXPIRED: { text: 'Expired', cls: 'bad' },
};

/** "every 1 month", "every 30 days". */
function cycleText(c: Contract): string {
  const n = c.cycleValue ?? 1;
  const unit = c.cycleType === 'MONTH' ? (n === 1 ? 'month' : 'months') : 'days';
  return `every ${n} ${unit}`;
}

/** A contract's terms as rows: also shown on the checkout of an order that signs one when paid (§14.9). */
export function contractTerms(c: Contract): SafeHtml {
  return html`<div class="row"><span>Service</span><span id="service">${c.serviceName}</span></div>
    <div class="row"><span>Up to, per debit</span><span id="limit">${displayAmount(c.singleUpperLimit, c.currency)}</span></div>
    ${
      c.periodic
        ? html`<div class="row"><span>Amount</span><span id="fixed">${c.cycleDebitFixed ? 'Fixed' : 'Variable'}</span></div>
          <div class="row"><span>Charged</span><span id="cycle">${cycleText(c)}</span></div>
          <div class="row"><span>First debit</span><span id="first">${date(c.firstDeductTime!)}</span></div>`
        : html`<div class="row"><span>Charged</span><span id="cycle">When you use the service</span></div>`
    }
    ${c.merchantAccountNo ? html`<div class="row"><span>Your account</span><span>${c.merchantAccountNo}</span></div>` : ''}
    <div class="row"><span>Valid until</span><span id="end">${date(c.contractEndTime)}</span></div>`;
}

export interface SigningData {
  contract: Contract;
  /** The merchant's name, or its sub-merchant's when the contract names one (§14.3). */
  merchantName: string;
  brandLogo?: string | null;
  /** The status shown: an INITIAL request past requestExpireTime shows as expired. */
  expired: boolean;
  csrf: string;
  payer: { email: string } | null;
  /** After Reject: the payer declined (the request itself stays open until it expires, §14.1). */
  rejected?: boolean;
  error?: string;
}

export function signingView(d: SigningData): SafeHtml {
  const c = d.contract;
  const base = `/checkout/contract/${c.token}`;
  const hidden = html`<input type="hidden" name="csrf" value="${d.csrf}">`;
  let action: SafeHtml;
  if (d.expired) {
    action = html`<div class="status bad" id="state">This request has expired</div>`;
  } else if (c.status !== 'INITIAL') {
    const s = STATUS[c.status]!;
    action = html`<div class="status ${s.cls}" id="state">${s.text}</div>`;
  } else if (d.rejected) {
    action = html`<div class="status bad" id="state">You declined this agreement</div>`;
  } else if (!d.payer) {
    action = html`<h2>Log in to review and agree</h2>
      <form method="post" action="${base}/login">${hidden}
        <label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required>
        <label for="password">Password</label><input id="password" name="password" type="password"
        autocomplete="current-password" required>
        <button class="btn" type="submit">Log in</button>
      </form>`;
  } else {
    action = html`<p class="muted">Logged in as ${d.payer.email}. By agreeing you let ${d.merchantName} collect payments
      from your funding wallet within these limits, without asking each time. You can cancel it in your account.</p>
      <form method="post" action="${base}/agree">${hidden}<button class="btn" id="agree" type="submit">Agree</button></form>
      <form method="post" action="${base}/reject">${hidden}<button class="btn secondary" id="reject"
        type="submit">Reject</button></form>`;
  }
  return html`<div class="card"><h1>Direct debit agreement</h1>
      <p>${
        d.brandLogo
          ? html`<img id="brand-logo" src="${d.brandLogo}" alt="" referrerpolicy="no-referrer"
          style="height:24px;max-width:96px;object-fit:contain;vertical-align:middle;margin-right:6px">`
          : ''
      }<strong id="merchant">${d.merchantName}</strong> asks to collect payments in ${c.currency}.</p>
      ${contractTerms(c)}</div>
    <div class="card">${d.error ? html`<div class="error" role="alert">${d.error}</div>` : ''}${action}</div>`;
}

export const contractNotFoundView = () =>
  html`<div class="card"><h1>Agreement not found</h1><p class="muted">This link is not valid.</p></div>`;

export interface PayerContract extends Contract {
  merchantName: string;
}

/** The payer's agreements: active ones with Cancel (termination way 0), ended ones below. */
export function payerContractsView(d: { email: string; csrf: string; contracts: PayerContract[]; flash?: string }) {
  const active = d.contracts.filter((c) => c.status === 'CONTRACT_SIGNED');
  const ended = d.contracts.filter((c) => c.status !== 'CONTRACT_SIGNED');
  const item = (c: PayerContract, cancel: boolean) => html`<div class="card contract" data-contract="${c.contractId}">
      <h2>${c.merchantName}</h2>
      ${contractTerms(c)}
      <div class="row"><span>Status</span><span class="${STATUS[c.status]!.cls}">${STATUS[c.status]!.text}</span></div>
      ${
        cancel
          ? html`<form method="post" action="/wallet/contracts/${c.contractId}/cancel"><input type="hidden" name="csrf"
            value="${d.csrf}"><button class="btn secondary" type="submit">Cancel agreement</button></form>`
          : ''
      }
    </div>`;
  // The e-mail wraps anywhere: a long address must not widen the page on a phone.
  return html`<nav><a href="/wallet">Wallet</a><a href="/wallet/contracts" aria-current="page">Direct debits</a></nav>
    <p class="muted">Logged in as <span class="mono">${d.email}</span></p>
    ${d.flash ? html`<div class="flash" role="status">${d.flash}</div>` : ''}
    <h1>Direct debit agreements</h1>
    ${
      active.length
        ? active.map((c) => item(c, true))
        : html`<div class="card"><p class="muted" id="none">You have no active
      agreements.</p></div>`
    }
    ${ended.length ? html`<h2>Ended</h2>${ended.map((c) => item(c, false))}` : ''}`;
}
