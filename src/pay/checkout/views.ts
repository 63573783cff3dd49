import { Decimal } from '../../platform/money.ts';
import { displayAmount } from '../../web/amount.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { Contract } from '../directdebit/service.ts';
import { contractTerms } from '../directdebit/views.ts';
import type { OnchainIntent, OnchainOption } from '../onchain/service.ts';
import { COUNTRY_BLOCKED_MESSAGE, type Order } from '../orders/service.ts';

/** The hosted checkout's pages (pure: data in, markup out); the controllers are in routes.ts. */
const STATUS_TEXT: Record<string, { text: string; cls: string }> = {
  INITIAL: { text: 'Waiting for payment', cls: 'wait' },
  PENDING: { text: 'Payment in progress', cls: 'wait' },
  PAID: { text: 'Paid', cls: 'ok' },
  CANCELED: { text: 'This order was closed by the merchant', cls: 'bad' },
  EXPIRED: { text: 'This order has expired', cls: 'bad' },
  ERROR: { text: 'This payment failed', cls: 'bad' },
  REFUNDING: { text: 'Paid · refund in progress', cls: 'ok' },
  REFUNDED: { text: 'Paid · partially refunded', cls: 'ok' },
  FULL_REFUNDED: { text: 'Paid · refunded', cls: 'ok' },
};

/**
 * One currency the payer can pay in: the amount due in it ('—' without a price), their available balance, and
 * whether that balance covers the amount (a currency without a price is never affordable).
 */
export interface PayOption {
  currency: string;
  due: string;
  balance: string;
  affordable: boolean;
}

interface CheckoutData {
  order: Order;
  merchantName: string | null;
  /** The sub-merchant's logo (https), shown beside its name (binance-pay-extended.md §12.5). */
  brandLogo?: string | null;
  /** The logged-in payer's KYC country is blocked by the order's sub-merchant: no pay form (§12.5). */
  blocked?: boolean;
  /** False when the order is reserved for a known payer (a QR code's order): no "Pay from another wallet". */
  onchainAllowed?: boolean;
  /** The status shown (an INITIAL order past expireTime shows as EXPIRED). */
  status: string;
  now: number;
  csrf: string;
  /** The logged-in payer and their options, or null when nobody is logged in. */
  payer: { email: string; options: PayOption[] } | null;
  /** The direct debit contract this order signs when paid (binance-pay-extended.md §14.9), if it carries one. */
  contract?: Contract | null;
  error?: string;
}

interface Goods {
  goodsName?: string;
  goodsQuantity?: string;
  goodsDetail?: string;
}

function payBlock(d: CheckoutData): SafeHtml | string {
  const o = d.order;
  if (!d.payer) {
    return html`<div class="card"><h2>Log in to pay</h2>
        <form method="post" action="/checkout/${o.checkoutToken}/login">
          <input type="hidden" name="csrf" value="${d.csrf}">
          <label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required>
          <label for="password">Password</label><input id="password" name="password" type="password"
          autocomplete="current-password" required>
          <button class="btn" type="submit">Log in</button>
        </form>
        <p class="muted">New here? <a id="signup" href="/signup?next=${encodeURIComponent(
          `/checkout/${o.checkoutToken}`,
        )}">Sign up</a></p></div>`;
  }
  if (d.blocked) {
    return html`<div class="card"><h2>Payment not available</h2>
        <div class="error" role="alert" id="blocked">${COUNTRY_BLOCKED_MESSAGE}</div>
        <p class="muted">Logged in as ${d.payer.email}</p>
        <form method="post" action="/checkout/${o.checkoutToken}/logout"><input type="hidden"
        name="csrf" value="${d.csrf}"><button class="btn secondary" type="submit">Log out</button></form></div>`;
  }
  // A currency the balance does not cover cannot be chosen; with none left, the Pay button is off and says why, so
  // the payer is sent to add funds instead of to an error after pressing it.
  const firstAffordable = d.payer.options.findIndex((p) => p.affordable);
  const options = d.payer.options.map(
    (p, i) => html`<label class="choice${p.affordable ? '' : ' short'}"><input type="radio" name="currency"
      value="${p.currency}" ${i === firstAffordable ? html`checked` : ''} ${p.affordable ? '' : html`disabled`}>
          <span><strong>${displayAmount(p.due, p.currency)}</strong><br>\
<span class="muted">Balance: ${displayAmount(p.balance, p.currency)}${p.affordable ? '' : ' · not enough'}</span></span></label>`,
  );
  const short = firstAffordable === -1;
  return html`<div class="card"><h2>Pay with your wallet</h2><p class="muted">Logged in as ${d.payer.email} ·
        <a id="wallet-link" href="/wallet/deposit">Add funds to your wallet</a></p>
        <form method="post" action="/checkout/${o.checkoutToken}/pay">
          <input type="hidden" name="csrf" value="${d.csrf}">${options}
          ${
            short
              ? html`<p class="error" id="pay-short">Your balance is too low to pay this order.
          <a href="/wallet/deposit">Add funds to your wallet</a>, then come back to this page.</p>`
              : ''
          }
          ${
            d.contract?.status === 'INITIAL'
              ? html`<p class="muted" id="pay-signs">Paying also signs the direct debit agreement shown above.</p>`
              : ''
          }
          <button class="btn" id="pay" type="submit" ${
            short ? html`disabled aria-describedby="pay-short"` : ''
          }>Pay ${displayAmount(o.orderAmount, o.currency)}</button>
        </form>
        <form method="post" action="/checkout/${o.checkoutToken}/logout"><input type="hidden"
        name="csrf" value="${d.csrf}"><button class="btn secondary" type="submit">Log out</button></form></div>`;
}

const CONTRACT_STATUS: Record<string, { text: string; cls: string }> = {
  CONTRACT_SIGNED: { text: 'Agreement signed', cls: 'ok' },
  CONTRACT_TERMINATED: { text: 'Agreement cancelled', cls: 'bad' },
  CONTRACT_EXPIRED: { text: 'Agreement not signed', cls: 'bad' },
};

/**
 * The direct debit agreement an order carries (§14.9), under the amount: its terms, and while the order is open that
 * paying it also signs the agreement, so nobody pays without having been told.
 */
function contractBlock(d: CheckoutData, open: boolean): SafeHtml | string {
  const c = d.contract;
  if (!c) return '';
  const merchant = d.merchantName ?? 'The merchant';
  const st = CONTRACT_STATUS[c.status];
  return html`<div class="card" id="contract"><h2>Direct debit agreement</h2>
        ${
          open && c.status === 'INITIAL'
            ? html`<p id="contract-consent"><strong>Paying this order also signs this agreement.</strong> ${merchant}
        may then collect payments from your wallet within these limits without asking each time; you can cancel it in
        your wallet.</p>`
            : ''
        }
        ${contractTerms(c)}
        ${st ? html`<div class="status ${st.cls}" id="contract-status">${st.text}</div>` : ''}</div>`;
}

/**
 * The checkout page: summary, status, countdown, QR code, then login or payment while the order is open. There is no
 * "open in app" button: the Pay API's deeplink is this very page, so the QR code (scanned with a phone) is the way to
 * continue on another device.
 */
export function checkoutView(d: CheckoutData): SafeHtml {
  const { order: o, status, error } = d;
  const st = STATUS_TEXT[status] ?? { text: status, cls: 'wait' };
  const open = status === 'INITIAL';
  const done = ['PAID', 'REFUNDING', 'REFUNDED', 'FULL_REFUNDED'].includes(o.status);
  return html`<div data-checkout data-status="${status}" data-expire="${o.expireTime}" data-now="${d.now}">
      <div class="card">
        <div class="muted" id="merchant">${
          d.brandLogo
            ? html`<img id="brand-logo" src="${d.brandLogo}" alt=""
          referrerpolicy="no-referrer"
          style="height:24px;max-width:96px;object-fit:contain;vertical-align:middle;margin-right:6px">`
            : ''
        }${d.merchantName ?? 'Merchant'}</div>
        <h1>${o.description ?? o.productName}</h1>
        <div class="amount" id="amount">${displayAmount(o.orderAmount, o.currency)}</div>
        ${o.fiatCurrency && o.fiatAmount ? html`<div class="muted">≈ ${displayAmount(o.fiatAmount, o.fiatCurrency)}</div>` : ''}
        <div class="status ${st.cls}" id="status">${st.text}</div>
        ${open ? html`<p class="muted">Expires in <span class="countdown" id="countdown">--:--</span></p>` : ''}
        ${error ? html`<div class="error" role="alert">${error}</div>` : ''}
      </div>
      ${contractBlock(d, open)}
      ${
        o.goods.length
          ? html`<div class="card"><h2>Items</h2>${(o.goods as Goods[]).map(
              (g) => html`<div class="row">
        <span>${g.goodsName}${g.goodsQuantity ? html` × ${g.goodsQuantity}` : ''}</span><span \
class="muted">${g.goodsDetail ?? ''}</span></div>`,
            )}</div>`
          : ''
      }
      ${
        open
          ? html`<div class="card" style="text-align:center"><h2>Scan to pay on your phone</h2>
        <img class="qr" id="qr" src="/checkout/${o.checkoutToken}/qr.png" alt="QR code of this checkout page">
        <p class="muted">The code opens this page on your phone.</p></div>`
          : ''
      }
      ${open ? payBlock(d) : ''}
      ${
        open && d.onchainAllowed !== false
          ? html`<div class="card"><h2>Pay from another wallet</h2>
        <p class="muted">Send the amount from any wallet or exchange on Ethereum-compatible networks, no login
        needed.</p>
        <a class="btn secondary" id="onchain" href="/checkout/${o.checkoutToken}/onchain">Pay from another
        wallet</a></div>`
          : ''
      }
      ${done && o.returnUrl ? html`<a class="btn" id="return" href="${o.returnUrl}">Return to merchant</a>` : ''}
      ${
        open && o.cancelUrl
          ? html`<a class="btn secondary" id="cancel"
        href="/checkout/${o.checkoutToken}/cancel">Cancel and return to merchant</a>`
          : ''
      }
    </div>`;
}

export const orderNotFoundView = () =>
  html`<div class="card"><h1>Order not found</h1><p class="muted">This checkout link is not valid.</p></div>`;

/** A transfer to the order's address as the checkout shows it (from the chain's deposit list). */
export interface OnchainTransfer {
  txHash: string;
  asset: string;
  network: string;
  amount: string;
  status: 'pending' | 'credited' | 'orphaned';
  confirmations: number;
  confirmationsRequired: number;
}

/** What the on-chain checkout page and its live status (JSON) show; built by routes.ts from the order and intent. */
export interface OnchainState {
  orderStatus: string;
  intentStatus: OnchainIntent['status'];
  asset: string;
  network: string;
  address: string;
  amount: string;
  received: string;
  remaining: string;
  /** Given back in the chosen asset (surplus, or everything received when the order was not paid). */
  returned: string;
  /** Transfers that arrived late or in another asset/network, given back. */
  credits: { asset: string; amount: string }[];
  transfers: OnchainTransfer[];
  /** The payer's balance is credited (they were logged in when choosing), else the operator holds a refund. */
  payerKnown: boolean;
  /** One line saying what happened and what to do next. */
  message: string;
  tone: 'ok' | 'wait' | 'bad';
  returnUrl: string | null;
}

const PAID_STATUSES = ['PAID', 'REFUNDING', 'REFUNDED', 'FULL_REFUNDED'];

/** The page's one-line summary of an on-chain payment (also sent to the page's script, which shows it as is). */
export function onchainMessage(s: Omit<OnchainState, 'message' | 'tone'>): {
  message: string;
  tone: OnchainState['tone'];
} {
  const back = s.payerKnown
    ? 'credited to your Rampart balance'
    : 'kept for you as a refundable credit; contact the merchant';
  const given = s.credits.map((c) => displayAmount(c.amount, c.asset)).join(', ');
  const late = given ? ` A transfer of ${given} arrived after that and was ${back}.` : '';
  if (s.intentStatus === 'PAID' || (PAID_STATUSES.includes(s.orderStatus) && s.intentStatus !== 'RETURNED')) {
    const surplus = new Decimal(s.returned).gt(0)
      ? ` You sent ${displayAmount(s.returned, s.asset)} more than due; it was ${back}.`
      : '';
    return { message: `Paid.${surplus}${late}`, tone: 'ok' };
  }
  if (s.intentStatus === 'RETURNED') {
    const got = new Decimal(s.returned).gt(0) ? ` The ${displayAmount(s.returned, s.asset)} received was ${back}.` : '';
    return { message: `This order was not paid.${got}${late}`, tone: 'bad' };
  }
  // PENDING: a transfer covering the order was seen before it expired; the order waits for its confirmations.
  if (s.orderStatus !== 'INITIAL' && s.orderStatus !== 'PENDING')
    return { message: 'This order is no longer open; anything sent will be given back.', tone: 'bad' };
  const pending = s.transfers.filter((t) => t.status === 'pending');
  if (pending.length > 0) {
    const t = pending[pending.length - 1]!;
    return {
      message: `Transfer of ${displayAmount(t.amount, t.asset)} seen: ${Math.min(t.confirmations, t.confirmationsRequired)} of ${
        t.confirmationsRequired
      } confirmations.`,
      tone: 'wait',
    };
  }
  if (new Decimal(s.received).gt(0) && new Decimal(s.remaining).isZero())
    return { message: `Received ${displayAmount(s.received, s.asset)}: completing the payment.`, tone: 'wait' };
  if (new Decimal(s.received).gt(0))
    return {
      message: `Received ${displayAmount(s.received, s.asset)}. Send the remaining ${displayAmount(s.remaining, s.asset)}.`,
      tone: 'wait',
    };
  return { message: `Waiting for your transfer of ${displayAmount(s.amount, s.asset)}.`, tone: 'wait' };
}

interface OnchainPageData {
  order: Order;
  merchantName: string | null;
  /** The status shown (an INITIAL order past expireTime shows as EXPIRED). */
  status: string;
  now: number;
  csrf: string;
  /** What the payer can pick from: before a choice, and to change it while nothing has arrived. */
  options: OnchainOption[];
  /** After a choice. */
  state: OnchainState | null;
  /** The EIP-681 request a wallet opens (the QR code's content). */
  paymentUri: string | null;
  error?: string;
}

const transferItem = (t: OnchainTransfer) =>
  html`<li class="row"><span>${displayAmount(t.amount, t.asset)}</span><span class="muted">${
    t.status === 'credited'
      ? 'confirmed'
      : t.status === 'orphaned'
        ? 'dropped by a reorganisation, waiting'
        : `${Math.min(t.confirmations, t.confirmationsRequired)}/${t.confirmationsRequired} confirmations`
  }</span></li>`;

/** The order's address, the exact amount and the QR code: shown only while the order waits for its payment. */
const payDetails = (o: Order, st: OnchainState, paymentUri: string | null) =>
  html`<div class="card" id="pay-details">
        <h2>Send exactly</h2>
        <div class="amount" id="pay-amount">${displayAmount(st.amount, st.asset)}</div>
        <div class="row"><span>Network</span><span id="pay-network">${st.network}</span></div>
        <p class="muted">To this address (for this order only):</p>
        <p id="pay-address" style="font-family:monospace;font-size:15px;overflow-wrap:anywhere;margin:4px 0"
          >${st.address}</p>
        <button class="btn secondary" id="copy-address" type="button" data-copy="${st.address}"
          data-select="pay-address">Copy address</button>
        <button class="btn secondary" id="copy-amount" type="button" data-copy="${st.amount}"
          data-select="pay-amount">Copy amount</button>
        <img class="qr" id="onchain-qr" src="/checkout/${o.checkoutToken}/onchain/qr.png"
          alt="QR code: send ${displayAmount(st.amount, st.asset)} on ${st.network} to ${st.address}">
        ${paymentUri ? html`<a class="btn secondary" id="open-wallet" href="${paymentUri}">Open in wallet</a>` : ''}
        <p class="muted">Send on ${st.network} only. Less than this keeps the order open for the rest; more is given
          back to you.</p>
      </div>`;

/**
 * Pay a checkout from another wallet: the choice of asset and network, then the order's address, the exact amount, a
 * QR code, and the transfers as they are seen and confirmed (kept current by /assets/checkout-onchain.js).
 */
export function onchainView(d: OnchainPageData): SafeHtml {
  const { order: o, state: st } = d;
  const open = d.status === 'INITIAL';
  const back = html`<a class="btn secondary" id="back" href="/checkout/${o.checkoutToken}">Back to checkout</a>`;
  const head = html`<div class="card">
        <div class="muted" id="merchant">${d.merchantName ?? 'Merchant'}</div>
        <h1>${o.description ?? o.productName}</h1>
        <div class="amount" id="amount">${displayAmount(o.orderAmount, o.currency)}</div>
        ${
          open && (!st || st.intentStatus === 'AWAITING')
            ? html`<p class="muted" id="expires">Expires in <span class="countdown" id="countdown">--:--</span></p>`
            : ''
        }
        ${d.error ? html`<div class="error" role="alert" id="error">${d.error}</div>` : ''}
      </div>`;
  // The current choice is preselected when changing it, else the first.
  const selected = (p: OnchainOption, i: number) => (st ? st.asset === p.asset && st.network === p.network : i === 0);
  const options = d.options.map(
    (p, i) => html`<label class="choice"><input type="radio" name="option" value="${p.asset}@${p.network}"
      ${selected(p, i) ? html`checked` : ''}><span><strong>${displayAmount(p.due, p.asset)}</strong><br>\
<span class="muted">on ${p.network}${p.contractAddress ? ' (token)' : ''}</span></span></label>`,
  );
  if (!st) {
    const chooser = !open
      ? html`<div class="card"><div class="status bad" id="onchain-status">This order is no longer open.</div></div>`
      : d.options.length === 0
        ? html`<div class="card"><p class="muted" id="no-options">No network is available for this order right now.
        Pay from your Rampart balance instead.</p></div>`
        : html`<div class="card"><h2>Pay from another wallet</h2>
        <p class="muted">Choose what you will send. The amount is fixed until the order expires.</p>
        <form method="post" action="/checkout/${o.checkoutToken}/onchain">
          <input type="hidden" name="csrf" value="${d.csrf}">${options}
          <button class="btn" id="choose" type="submit">Show the payment address</button>
        </form></div>`;
    return html`<div data-onchain data-expire="${o.expireTime}" data-now="${d.now}">${head}${chooser}${back}</div>`;
  }
  const done = st.tone === 'ok';
  const waiting = st.intentStatus === 'AWAITING' && st.orderStatus === 'INITIAL' && open;
  return html`<div data-onchain data-expire="${o.expireTime}" data-now="${d.now}"
      data-status-url="/checkout/${o.checkoutToken}/onchain/status" data-state="${st.intentStatus}">
      ${head}
      <div class="card">
        <div class="status ${st.tone}" id="onchain-status" role="status" aria-live="polite">${st.message}</div>
        <div class="row"><span>Received</span><span id="received">${displayAmount(st.received, st.asset)}</span></div>
        ${
          waiting
            ? html`<div class="row" id="remaining-row"><span>Still to send</span><span
          id="remaining">${displayAmount(st.remaining, st.asset)}</span></div>`
            : ''
        }
        <ul id="transfers" style="list-style:none;padding:0;margin:8px 0 0">${st.transfers.map(transferItem)}</ul>
        ${
          done
            ? html`<a class="btn" id="return" href="${st.returnUrl ?? `/checkout/${o.checkoutToken}`}">${
                st.returnUrl ? 'Return to merchant' : 'Back to the order'
              }</a>`
            : ''
        }
      </div>
      ${waiting ? payDetails(o, st, d.paymentUri) : ''}      ${
        waiting && d.options.length > 0
          ? html`<div class="card" id="change"><h2>Paying with something else?</h2>
        <form method="post" action="/checkout/${o.checkoutToken}/onchain">
          <input type="hidden" name="csrf" value="${d.csrf}">${options}
          <button class="btn secondary" id="change-option" type="submit">Change</button>
        </form></div>`
          : ''
      }
      ${waiting ? back : ''}
    </div>`;
}
