import { displayAmount, displayNumber } from '../web/amount.ts';
import { html, type SafeHtml } from '../web/html.ts';
import type { DepositOption } from './deposits.ts';
import type { WalletWithdrawalView } from './withdrawals.ts';

/**
 * The wallet's pages (pure: data in, markup out), in the checkout's cards. Balances and deposits are redrawn by
 * src/web/assets/wallet.js from /wallet/live.json with the same markup as here (the `data-*` hooks are shared).
 */
export interface BalanceLine {
  asset: string;
  available: string;
  held: string;
}

export interface DepositLine {
  id: string;
  network: string;
  asset: string;
  amount: string;
  status: 'pending' | 'credited' | 'orphaned';
  confirmations: number;
  confirmationsRequired: number;
  txHash: string;
  createdAt: number;
}

/** A status badge inside a history row: compact, and wrapping as one block. */
export const PILL = 'display:inline-block;padding:2px 8px;font-size:13px';
const short = (s: string) => (s.length > 18 ? `${s.slice(0, 10)}…${s.slice(-6)}` : s);
const when = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

export function depositState(d: DepositLine): { text: string; cls: string } {
  if (d.status === 'credited') return { text: 'Credited', cls: 'ok' };
  if (d.status === 'orphaned') return { text: 'Dropped by a chain reorganisation', cls: 'bad' };
  return {
    text: `Pending · ${Math.min(d.confirmations, d.confirmationsRequired)}/${d.confirmationsRequired} confirmations`,
    cls: 'wait',
  };
}

const WITHDRAWAL_TEXT: Record<string, { text: string; cls: string }> = {
  code_sent: { text: 'Waiting for your code', cls: 'wait' },
  confirmed: { text: 'Confirmed · sending', cls: 'wait' },
  requested: { text: 'Sending', cls: 'wait' },
  completed: { text: 'Sent', cls: 'ok' },
  refused: { text: 'Not sent', cls: 'bad' },
  cancelled: { text: 'Cancelled', cls: 'bad' },
  expired: { text: 'Expired', cls: 'bad' },
};

/** What the person sees of a withdrawal: its own step, refined by the chain's status while it is being sent. */
export function withdrawalState(w: WalletWithdrawalView): { text: string; cls: string } {
  if (w.step === 'requested' && w.chain) {
    if (w.chain.status === 'failed') return { text: 'Delayed · the operator is looking into it', cls: 'bad' };
    if (w.chain.status === 'requested' && w.chain.waitingReason)
      return { text: 'Queued · the platform is topping up its wallet', cls: 'wait' };
    if (w.chain.status === 'confirming')
      return {
        text: `Sending · ${w.chain.confirmations}/${w.chain.confirmationsRequired} confirmations`,
        cls: 'wait',
      };
  }
  return WITHDRAWAL_TEXT[w.step] ?? { text: w.step, cls: 'wait' };
}

const balanceRows = (balances: BalanceLine[]) =>
  balances.length === 0
    ? html`<p class="muted" id="no-balance">No funds yet. Deposit to get started.</p>`
    : balances.map(
        (b) => html`<div class="row" data-balance="${b.asset}"><span><strong>${b.asset}</strong></span><span><strong
          data-field="available">${displayNumber(b.available, b.asset)}</strong>${
            b.held !== '0'
              ? html`<br><span class="muted" data-field="held">${displayNumber(b.held, b.asset)} on hold</span>`
              : ''
          }</span></div>`,
      );

export const depositRows = (deposits: DepositLine[]) =>
  deposits.length === 0
    ? html`<p class="muted" id="no-deposits">No deposits yet. A transfer to your address shows here as soon as it
        is in a block, and is credited after its confirmations.</p>`
    : deposits.map((d) => {
        const st = depositState(d);
        return html`<div class="row" data-deposit="${d.id}"><span><strong>+${displayAmount(d.amount, d.asset)}</strong><br><span
          class="muted">${d.network} · ${short(d.txHash)}</span></span><span><span
          class="status ${st.cls}" style="${PILL}"
          data-field="state">${st.text}</span></span></div>`;
      });

function withdrawalRows(list: WalletWithdrawalView[]) {
  if (list.length === 0) return html`<p class="muted" id="no-withdrawals">No withdrawals yet.</p>`;
  return list.map((w) => {
    const st = withdrawalState(w);
    const txPart = w.chain?.txHash ? ` · tx ${short(w.chain.txHash)}` : '';
    return html`<a class="row" style="color:inherit;text-decoration:none" data-withdrawal="${w.id}"
      href="/wallet/withdrawals/${w.id}"><span><strong>−${displayAmount(w.total, w.asset)}</strong><br><span
      class="muted">${w.network} · to ${short(w.address)}${txPart}</span></span><span><span
      class="status ${st.cls}" style="${PILL}"
      data-field="state">${st.text}</span></span></a>`;
  });
}

function layoutTop(email: string, csrf: string) {
  return html`<div class="card"><div class="row"><span class="muted">Wallet</span><span class="muted"
    style="overflow-wrap:anywhere">${email}</span></div>
    <form method="post" action="/logout"><input type="hidden" name="csrf" value="${csrf}"><button
    class="btn secondary" type="submit">Log out</button></form></div>`;
}

/** /wallet: balances, the two ways to move money, and both histories. */
export function walletView(d: {
  email: string;
  csrf: string;
  balances: BalanceLine[];
  deposits: DepositLine[];
  withdrawals: WalletWithdrawalView[];
}): SafeHtml {
  return html`<div data-wallet data-live="/wallet/live.json">
    <div class="card"><h1>Your balances</h1><div id="balances">${balanceRows(d.balances)}</div>
      <a class="btn" id="deposit" href="/wallet/deposit">Deposit</a>
      <a class="btn secondary" id="withdraw" href="/wallet/withdraw">Withdraw</a></div>
    <div class="card"><h2>Deposits</h2><div id="deposits">${depositRows(d.deposits)}</div></div>
    <div class="card"><h2>Withdrawals</h2><div id="withdrawals">${withdrawalRows(d.withdrawals)}</div></div>
    <div class="card"><h2>Direct debits</h2><p class="muted">Merchants you let collect payments from your wallet
      : see and cancel your direct debit agreements.</p>
      <a class="btn secondary" id="contracts" href="/wallet/contracts">Your agreements</a></div>
    ${layoutTop(d.email, d.csrf)}</div>`;
}

/** /wallet/deposit: pick what to deposit (one address for all EVM networks, but each network its own chain). */
export function depositChoiceView(options: DepositOption[]): SafeHtml {
  return html`<div class="card"><h1>Deposit</h1><p class="muted">Choose what you send and on which network. Sending
    on another network than the one you choose can lose the funds.</p>
    ${
      options.length === 0
        ? html`<p class="error">No network accepts deposits right now.</p>`
        : options.map(
            (o) => html`<a class="choice" style="color:inherit;text-decoration:none" id="dep-${o.network}-${o.asset}"
            href="/wallet/deposit/${o.network}/${o.asset}"><span><strong>${o.asset}</strong><br><span
            class="muted">${o.networkName}</span></span></a>`,
          )
    }
    <a class="btn secondary" href="/wallet">Back to wallet</a></div>`;
}

/** /wallet/deposit/:network/:asset: the address, its QR code, the rules, and the live history of this asset. */
export function depositView(d: {
  option: DepositOption;
  address: string;
  uri: string;
  balance: BalanceLine | null;
  deposits: DepositLine[];
}): SafeHtml {
  const o = d.option;
  return html`<div data-wallet data-live="/wallet/live.json" data-network="${o.network}" data-asset="${o.asset}">
    <div class="card" style="text-align:center"><h1>Deposit ${o.asset}</h1>
      <div class="muted">on ${o.networkName}</div>
      <img class="qr" id="qr" src="/wallet/deposit/${o.network}/${o.asset}/qr.png" data-uri="${d.uri}"
        alt="QR code of your deposit address">
      <div class="muted">Your ${o.asset} deposit address</div>
      <div id="address"
        style="font-family:monospace;font-size:15px;overflow-wrap:anywhere;margin:4px 0">${d.address}</div>
      <button class="btn" type="button" id="copy" data-copy="${d.address}">Copy address</button>
      <p class="muted" id="copied" aria-live="polite"></p></div>
    <div class="card"><h2>Before you send</h2>
      <div class="row"><span>Network</span><span id="network">${o.networkName}</span></div>
      ${
        o.contract
          ? html`<div class="row"><span>Token contract</span><span id="contract"
        style="overflow-wrap:anywhere;font-family:monospace;font-size:12px">${o.contract}</span></div>`
          : ''
      }
      <div class="row"><span>Minimum deposit</span><span id="min">${displayAmount(o.minDeposit, o.asset)}</span></div>
      <div class="row"><span>Confirmations</span><span id="confirmations">${o.confirmations} blocks</span></div>
      <p class="muted">Send only ${o.asset} on ${o.networkName} to this address. Your balance is credited after
        ${o.confirmations} confirmations. Smaller deposits than the minimum are credited too, but they cost more
        network fees to process than they are worth.</p></div>
    <div class="card"><h2>Your ${o.asset} balance</h2>
      <div id="balances">${balanceRows(d.balance ? [d.balance] : [])}</div></div>
    <div class="card"><h2>${o.asset} deposits on ${o.network}</h2><div id="deposits">${depositRows(d.deposits)}</div>
      <a class="btn secondary" href="/wallet">Back to wallet</a></div></div>`;
}

export interface WithdrawOption {
  asset: string;
  network: string;
  networkName: string;
  fee: string;
  min: string;
  memoRequired: boolean;
  available: string;
}

/** /wallet/withdraw: asset and network, address, memo, amount, with each option's fee and the balance. */
export function withdrawFormView(d: {
  csrf: string;
  options: WithdrawOption[];
  values: { option?: string; address?: string; memo?: string; amount?: string };
  error?: string;
}): SafeHtml {
  const chosen = d.values.option ?? '';
  return html`<div class="card"><h1>Withdraw</h1>
    ${d.error ? html`<div class="error" role="alert" id="error">${d.error}</div>` : ''}
    <form method="post" action="/wallet/withdraw"><input type="hidden" name="csrf" value="${d.csrf}">
      <label>Asset and network</label>
      ${d.options.map(
        (o, i) => html`<label class="choice"><input type="radio" name="option" value="${o.asset}:${o.network}"
          ${chosen === `${o.asset}:${o.network}` || (!chosen && i === 0) ? html`checked` : ''}><span><strong>${o.asset}
          · ${o.networkName}</strong><br><span class="muted">Available ${displayAmount(o.available, o.asset)} · network fee
          ${displayAmount(o.fee, o.asset)} · minimum ${displayAmount(o.min, o.asset)}${o.memoRequired ? ' · memo required' : ''}</span></span></label>`,
      )}
      <label for="address">Destination address</label>
      <input type="text" id="address" name="address" autocomplete="off" required value="${d.values.address ?? ''}">
      <label for="memo">Memo / destination tag (only where the network needs one)</label>
      <input type="text" id="memo" name="memo" autocomplete="off" value="${d.values.memo ?? ''}">
      <label for="amount">Amount the address receives</label>
      <input type="text" id="amount" name="amount" inputmode="decimal" autocomplete="off" required
        value="${d.values.amount ?? ''}">
      <p class="muted">The network fee is added to the amount and shown again before you confirm.</p>
      <button class="btn" id="review" type="submit">Continue</button></form>
    <a class="btn secondary" href="/wallet">Back to wallet</a></div>`;
}

/** /wallet/withdrawals/:id: the summary with the fee; the code form while it waits for it; then its progress. */
export function withdrawalView(d: { w: WalletWithdrawalView; csrf: string; error?: string; email: string }): SafeHtml {
  const w = d.w;
  const st = withdrawalState(w);
  const tx = w.chain?.txHash;
  return html`<div data-withdrawal-page data-step="${w.step}" data-chain="${w.chain?.status ?? ''}">
    <div class="card"><h1>Withdraw ${w.asset}</h1>
      <div class="status ${st.cls}" id="state">${st.text}</div>
      ${d.error ? html`<div class="error" role="alert" id="error">${d.error}</div>` : ''}
      ${
        w.failure && ['refused', 'cancelled', 'expired'].includes(w.step)
          ? html`<p class="muted"
        id="failure">${w.failure}</p>`
          : ''
      }
      <div class="row"><span>Network</span><span>${w.network}</span></div>
      <div class="row"><span>To</span><span id="to" style="overflow-wrap:anywhere;font-family:monospace;font-size:13px"
        >${w.address}</span></div>
      ${w.memo ? html`<div class="row"><span>Memo</span><span>${w.memo}</span></div>` : ''}
      <div class="row"><span>Amount received</span><span id="amount">${displayAmount(w.amount, w.asset)}</span></div>
      <div class="row"><span>Network fee</span><span id="fee">${displayAmount(w.fee, w.asset)}</span></div>
      <div class="row"><span><strong>Total from your balance</strong></span><span><strong
        id="total">${displayAmount(w.total, w.asset)}</strong></span></div>
      ${
        tx
          ? html`<div class="row"><span>Transaction</span><span
              style="overflow-wrap:anywhere;font-family:monospace;font-size:12px">${
                w.txUrl
                  ? html`<a id="tx" href="${w.txUrl}" rel="noopener noreferrer" target="_blank">${tx}</a>`
                  : html`<span id="tx">${tx}</span>`
              }</span></div>`
          : ''
      }
      <div class="row"><span>Started</span><span>${when(w.createdAt)}</span></div></div>
    ${
      w.step === 'code_sent'
        ? html`<div class="card"><h2>Confirm with the code we e-mailed</h2>
      <p class="muted">We sent a 6-digit code to ${d.email}. It is valid until ${when(w.codeExpiresAt)}
        (${w.codeAttemptsLeft} tries left).</p>
      <form method="post" action="/wallet/withdrawals/${w.id}/confirm"><input type="hidden" name="csrf"
        value="${d.csrf}"><label for="code">Code</label><input type="text" id="code" name="code"
        inputmode="numeric" autocomplete="one-time-code" maxlength="6" required>
        <button class="btn" id="confirm" type="submit">Confirm withdrawal of ${displayAmount(w.total, w.asset)}</button></form>
      <form method="post" action="/wallet/withdrawals/${w.id}/cancel"><input type="hidden" name="csrf"
        value="${d.csrf}"><button class="btn secondary" id="cancel" type="submit">Cancel</button></form></div>`
        : ''
    }
    <a class="btn secondary" href="/wallet">Back to wallet</a></div>`;
}

export const notFoundView = (what: string) =>
  html`<div class="card"><h1>Not available</h1><p class="muted">${what}</p><a class="btn secondary"
    href="/wallet">Back to wallet</a></div>`;
