import { displayAmount } from '../../web/amount.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { DetailStatus } from './service.ts';

/**
 * The page an e-mail payout recipient opens from the invitation (pure: data in, markup out). It says who sent how
 * much, until when it can be received, and what to do: create a wallet with this e-mail and get verified.
 */
interface ClaimPageData {
  merchantName: string;
  amount: string;
  currency: string;
  email: string;
  status: DetailStatus;
  deadline: number;
  now: number;
  sandbox: boolean;
}

const utc = (ms: number) => `${new Date(ms).toISOString().replace('T', ' ').slice(0, 16)} UTC`;

function remaining(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  return h > 0 ? `${h} h ${m} min` : `${m} min`;
}

function statusBlock(d: ClaimPageData): SafeHtml {
  if (d.status === 'SUCCESS') return html`<div class="status ok">Received · credited to your funding wallet</div>`;
  if (d.status === 'REFUNDED')
    return html`<div class="status bad">Expired · the payment was returned to ${d.merchantName}</div>`;
  if (d.deadline <= d.now) return html`<div class="status bad">Expired · the payment is being returned</div>`;
  return html`<div class="status wait">Waiting for you · <span class="countdown">${remaining(d.deadline - d.now)}</span>
      left</div>`;
}

function steps(d: ClaimPageData): SafeHtml | string {
  if (d.status !== 'AWAITING_RECEIPT' || d.deadline <= d.now) return '';
  return html`<div class="card" style="overflow-wrap:anywhere"><h2>How to receive it</h2>
      <ol class="muted" style="padding-left:20px;margin:0">
        <li>Create a Rampart wallet with the e-mail address <strong>${d.email}</strong>. Another address will not
          work.</li>
        <li>Complete identity verification (KYC) for that wallet.</li>
        <li>That is all: once you are verified, the ${d.currency} are credited to your funding wallet
          automatically.</li>
      </ol>
      <p class="muted">Do this before <strong>${utc(d.deadline)}</strong>. After that the payment goes back to
        ${d.merchantName}.</p>
      ${
        d.sandbox
          ? html`<p class="muted">Sandbox: register the recipient with <code>POST /sandbox/v1/payers</code> and verify
              them with <code>POST /sandbox/v1/kyc/{payerId}/decision</code>.</p>`
          : ''
      }</div>`;
}

export function claimPage(d: ClaimPageData): SafeHtml {
  return html`<div class="card">
      <h1>${d.merchantName} sent you</h1>
      <div class="amount" style="overflow-wrap:anywhere">${displayAmount(d.amount, d.currency)}</div>
      ${statusBlock(d)}
      <div style="margin-top:12px">
        <div class="row"><span class="muted">From</span><span style="overflow-wrap:anywhere">${d.merchantName}</span>
        </div>
        <div class="row"><span class="muted">To</span><span style="overflow-wrap:anywhere">${d.email}</span></div>
        <div class="row"><span class="muted">Receive before</span><span>${utc(d.deadline)}</span></div>
      </div>
    </div>
    ${steps(d)}`;
}

export function claimNotFound(): SafeHtml {
  return html`<div class="card"><h1>Payment not found</h1>
      <p class="muted">This link is not valid. Check that you opened the full link from the e-mail.</p></div>`;
}
