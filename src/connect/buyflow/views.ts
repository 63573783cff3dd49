import countries from 'i18n-iso-countries';
import { SUPPORTED_CARD_COUNTRIES } from '../../cards/support.ts';
import { Decimal } from '../../platform/money.ts';
import { displayAmount, displayNumber } from '../../web/amount.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { ConnectOrder } from '../orders/store.ts';
import { STATUS, isFinalStatus } from '../v2/wire.ts';
import type { LockedQuote, Step } from './purchase.ts';
import { DOCUMENT_TYPES, type BuyflowUser, type SavedCard } from './service.ts';

/**
 * The buy flow's pages (pure: data in, markup out); the controllers are in routes.ts, the script in
 * src/web/assets/buyflow.js.
 */
export const BASE = '/en/connect/buyflow';

/** What the pages' forms need: the link's token, the CSRF token and the brand shown to the person. */
export interface Page {
  token: string;
  csrf: string;
  brand: string;
}

export const back = (token: string, extra = '') => `${BASE}?token=${encodeURIComponent(token)}${extra}`;
const errBox = (m: unknown) => (m ? html`<div class="error" role="alert">${String(m)}</div>` : '');

const STEPS = ['PAYMENT_PROCESSING', 'PURCHASE_PROCESSING', 'WITHDRAW_PROCESSING', 'COMPLETED'];
const STEP_NAMES = ['Payment', 'Purchase', 'Withdrawal', 'Completed'];
const FIAT_SYMBOL: Record<string, string> = { USD: '$', EUR: '€', GBP: '£', AUD: 'A$', BRL: 'R$', TRY: '₺' };

/** What the person reads on the confirm page after an attempt failed (the order is back to CREATED). */
const PAYMENT_PROBLEMS: Record<string, string> = {
  CARD_DECLINED: 'Your card was declined by its issuer. Nothing was charged. Choose another card or add a new one.',
  INSUFFICIENT_FUNDS:
    'Your card has insufficient funds for this payment. Nothing was charged. Choose another card or add a new one.',
  THREE_DS_FAILED: 'The 3-D Secure check was not passed, so nothing was charged. Try again or choose another card.',
  QUOTE_EXPIRED:
    'The price lock expired before the payment was approved, so nothing was charged. Review the new price and ' +
    'confirm again.',
};
const CARD_FAILURE_TAGS: Record<string, string> = {
  CARD_DECLINED: 'Declined',
  INSUFFICIENT_FUNDS: 'Insufficient funds',
  THREE_DS_FAILED: '3-D Secure failed',
};
/**
 * The status page's headline for an order that ended FAILED, by errorCode (the partner sees the code and §5.2 reason).
 */
const FAILURE_HEADLINES: Record<string, string> = {
  REGION_RESTRICTED: 'Not available in your region',
  LIMIT_EXCEEDED: 'Daily limit reached',
  PURCHASE_FAILED: 'Purchase failed: your payment was refunded',
  USER_CANCELLED: 'Order cancelled',
  ORDER_EXPIRED: 'Order expired',
};
/** Which of the four progress steps an error code stops the order at. */
const FAILED_AT: Record<string, number> = { PURCHASE_FAILED: 1, WITHDRAW_FAILED: 2 };

/**
 * The order's progress and figures (pure): the steps with the current one highlighted, the locked price and amounts
 * (the quote locked at confirm until the purchase records the executed ones), the transaction as a link when the
 * network has an explorer.
 */
export function orderStatusView(v: {
  order: ConnectOrder;
  locked: { quotePrice: string; userFee: string; networkFee: string; cryptoAmount: string } | null;
  txHash: string | null;
  txUrl: string | null;
}): SafeHtml {
  const o = v.order;
  const positive = (x: string) => (new Decimal(x).gt(0) ? x : null);
  const price = positive(o.executePrice) ?? v.locked?.quotePrice ?? o.quotePrice;
  const receive = positive(o.obtainAmount) ?? v.locked?.cryptoAmount ?? null;
  const fee = v.locked?.userFee ?? o.userFee;
  const networkFee = v.locked?.networkFee ?? o.networkFee;
  // The user's own choice (gen-2, 96): bought and kept in the account, not a failure to them.
  const kept = o.subStatus === 'FAILED' && o.errorCode === 'KEPT_IN_ACCOUNT';
  const failed = (o.subStatus === 'FAILED' && !kept) || o.subStatus === 'WITHDRAW_FAILED';
  const at =
    o.subStatus === 'COMPLETED' || kept
      ? 4
      : failed
        ? (FAILED_AT[o.errorCode ?? ''] ?? 0)
        : Math.max(0, STEPS.indexOf(o.subStatus));
  const headline = kept
    ? 'Kept in your account'
    : o.subStatus === 'FAILED'
      ? (FAILURE_HEADLINES[o.errorCode ?? ''] ?? 'Payment failed')
      : o.subStatus === 'COMPLETED'
        ? 'Completed'
        : o.subStatus === 'WITHDRAW_FAILED'
          ? 'Withdrawal failed'
          : (STATUS_HEADLINES[o.subStatus] ?? o.subStatus);
  return html`<h1>Order status</h1>
    <div class="status ${o.mainStatus === 'SUCCESS' || kept ? 'ok' : failed ? 'bad' : 'wait'}" id="order-status"
    data-status="${o.subStatus}">${headline}</div>
    <ol class="steps" id="progress">${STEP_NAMES.map(
      (n, i) =>
        html`<li class="${i < at ? 'done' : i === at ? (failed ? 'failed' : 'current') : 'next'}"${
          i === Math.min(at, STEPS.length - 1) ? html` aria-current="step"` : ''
        }>${n}</li>`,
    )}</ol>
    ${o.errorReason && !kept ? html`<div class="error" id="error-reason">${o.errorReason}</div>` : ''}
    <div class="row"><span>You pay</span><span id="pay-amount">${displayAmount(o.orderAmount, o.fiatCurrency)}</span></div>
    <div class="row"><span>Price</span><span id="price">1 ${o.cryptoCurrency} = ${displayAmount(price, o.fiatCurrency)}</span></div>
    <div class="row"><span>Transaction fee</span><span>${displayAmount(fee, o.fiatCurrency)}</span></div>
    <div class="row"><span>Network fee</span><span>${displayAmount(networkFee, o.cryptoCurrency)}</span></div>
    ${
      receive
        ? html`<div class="row"><span>You receive</span><span id="obtain">${displayAmount(receive, o.cryptoCurrency)}</span>
      </div>`
        : ''
    }
    ${
      kept
        ? html`<div class="row"><span>Where</span><span id="kept">In your account (not sent)</span></div>`
        : html`<div class="row"><span>Send to</span><span style="word-break:break-all">${o.cryptoAddress}</span></div>`
    }
    ${
      v.txHash
        ? html`<div class="row"><span>Transaction</span>${
            v.txUrl
              ? html`<a id="tx-hash" href="${v.txUrl}"
      target="_blank" rel="noopener" style="word-break:break-all">${v.txHash}</a>`
              : html`<span id="tx-hash" style="word-break:break-all">${v.txHash}</span>`
          }</div>`
        : ''
    }`;
}
/** What the status and challenge pages poll for (GET /state): the page reloads when it changes. */
export const liveKey = (step: Step, o: ConnectOrder, txHash: string | null) => `${step}:${o.subStatus}:${txHash ?? ''}`;
const STATUS_HEADLINES: Record<string, string> = {
  PAYMENT_PROCESSING: 'Processing your payment',
  PURCHASE_PROCESSING: 'Buying your crypto',
  WITHDRAW_PROCESSING: 'Sending to your wallet',
};

/** The sandbox acquirer's 3-D Secure page (a real acquirer shows the issuer's own): approve within the price lock. */
export function challengeView(
  { token, csrf, brand }: Page,
  o: ConnectOrder,
  quote: LockedQuote | null,
  now: number,
  origins: string[],
  error?: string,
) {
  const left = quote ? Math.max(0, Math.ceil((quote.expiresAt - now) / 1000)) : 0;
  return html`<div class="card" data-live data-key="${liveKey('CHALLENGE', o, null)}" data-sub="${o.subStatus}"
    data-main="${o.mainStatus}" data-moid="${o.merchantOrderId}" data-oid="${o.orderId}"
    data-origins="${origins.join(' ')}">
    <h1>3-D Secure</h1>${errBox(error)}<p>Your bank asks you to approve this payment of <b>${displayAmount(
      o.orderAmount,
      o.fiatCurrency,
    )}</b> to ${brand}.</p>
    ${
      quote
        ? html`<p class="muted" id="challenge-lock"
      data-expired="The locked price of ${displayAmount(quote.quotePrice, o.fiatCurrency)} per ${o.cryptoCurrency} has expired: \
nothing will be charged at it. Approve or cancel to see a new price.">Approve within <span class="countdown"
id="challenge-left" data-expires="${quote.expiresAt}"
data-now="${now}">${left} s</span> to buy at the locked price of ${displayAmount(quote.quotePrice, o.fiatCurrency)} per \
${o.cryptoCurrency}. After that, nothing is charged and you get a new price.</p>`
        : ''
    }
    <form method="post" action="${BASE}/3ds?token=${token}"><input type="hidden"
    name="csrf" value="${csrf}"><button class="btn" name="result" value="pass"
    id="approve-3ds">Approve</button><button class="btn secondary" name="result" value="fail"
    id="fail-3ds">Cancel</button></form></div>`;
}

/** What the sign-up and log-in pages say is being bought, and for whom, before the person creates an account. */
export interface PurchaseSummary {
  partnerName: string;
  orderAmount: string;
  fiatCurrency: string;
  cryptoCurrency: string;
  cryptoNetwork: string;
}

const purchaseSummary = (s: PurchaseSummary) =>
  html`<div class="card" id="purchase"><div class="muted">Buying for ${s.partnerName}</div>
    <div class="amount" id="purchase-amount">${s.cryptoCurrency} for ${displayAmount(s.orderAmount, s.fiatCurrency)}</div>
    <div class="muted">Sent on ${s.cryptoNetwork} to the address you gave ${s.partnerName}.</div></div>`;

export function accountView({ token, csrf, brand }: Page, login: boolean, purchase: PurchaseSummary, error?: string) {
  return html`${purchaseSummary(purchase)}<div class="card"><h1>${
    login ? `Log in to ${brand}` : `Create Account on ${brand}`
  }</h1>
    ${
      login
        ? html`<p class="muted">New here? <a href="${back(token, '&step=signup')}">Create account</a>
      </p>`
        : html`<p class="muted">Already have an account? <a id="login-link"
          href="${back(token, '&step=login')}">Log in</a></p>`
    }
    ${errBox(error)}
    <form method="post" action="${BASE}/${login ? 'login' : 'signup'}?token=${token}"><input type="hidden"
    name="csrf" value="${csrf}">
    <label class="choice"><input type="radio" name="kind" value="email"
    checked> Email</label><label class="choice"><input type="radio" name="kind" value="phone"> Phone Number</label>
    <label for="identifier">Email / Phone Number (with country calling code)</label><input type="text" id="identifier"
    name="identifier" required maxlength="254">
    <label for="password">${login ? 'Password' : 'Create Password'}</label><input type="password" id="password"
    name="password" required maxlength="128">
    <button class="btn" type="submit">Continue</button></form></div>`;
}

/** The consent boxes as the person left them (kept across a wrong code, which redirects back to this page). */
export interface Consent {
  terms: boolean;
  marketing: boolean;
}

export function verifyView(
  { token, csrf, brand }: Page,
  u: BuyflowUser,
  error?: string,
  sent?: string,
  consent: Consent = { terms: false, marketing: false },
) {
  return html`<div class="card"><h1>${u.kind === 'email' ? 'Email' : 'Phone'} Verification</h1>
    ${
      sent
        ? html`<div \
class="status ok">${u.kind === 'email' ? 'Email code sent successfully' : 'SMS code sent successfully'}</div>`
        : ''
    }
    <p>Please enter the 6-digit verification code that was sent to ${u.identifier}.</p>${errBox(error)}
    <form method="post" action="${BASE}/verify?token=${token}"><input type="hidden" name="csrf" value="${csrf}">
    <label for="code">Verification Code</label><input type="text" id="code" name="code" inputmode="numeric"
    pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required>
    ${
      u.consentAt === null
        ? html`<label class="choice"><input type="checkbox" name="terms" value="1"
          id="terms" ${consent.terms ? html`checked` : ''}> I agree with ${brand}'s Terms of Use and Privacy Policy</label>
    <label class="choice"><input type="checkbox" name="marketing" id="marketing"
    value="1" ${consent.marketing ? html`checked` : ''}> Send me news and exclusive offers from ${brand}</label>`
        : ''
    }
    <button class="btn" type="submit">Continue</button></form>
    <form method="post" action="${BASE}/resend?token=${token}"><input type="hidden"
    name="csrf" value="${csrf}"><button class="btn secondary" id="resend" data-left="59"
    type="submit">Resend code (59s)</button></form></div>`;
}

export function kycView(rejected: string | null) {
  const names = countries.getNames('en');
  const options = Object.entries(names)
    .sort((a, b) => a[1].localeCompare(b[1]))
    .map(([c, n]) => html`<option value="${c}">${n}</option>`);
  return html`<div class="card"><h1>Select Country of Residence</h1>
    ${
      rejected
        ? html`<div class="error"
      id="kyc-rejected">Your verification was rejected: ${rejected}. Please correct and resubmit.</div>`
        : ''
    }
    <p class="muted">Please ensure your country of residence matches your valid ID. Your privileges could change based \
on the selection. Learn more in the Verification Center.</p>
    <div class="error" id="kyc-error" hidden></div>
    <form id="kyc-form"><label for="country">Country of residence</label><select id="country" name="country"
    required><option value="">Select country of residence</option>${options}</select>
    <label for="nationality">Nationality</label>\
<select id="nationality" name="nationality"><option value="">Same as country of residence</option>${options}</select>
    <label for="firstName">First name</label><input type="text" id="firstName" name="firstName" required maxlength="64">
    <label for="lastName">Last name</label><input type="text" id="lastName" name="lastName" required maxlength="64">
    <label for="dateOfBirth">Date of birth</label><input type="text" id="dateOfBirth" name="dateOfBirth"
    placeholder="YYYY-MM-DD" required>
    <label for="documentType">Document type</label><select id="documentType"
    name="documentType">${DOCUMENT_TYPES.map(
      (d) => html`<option \
value="${d}">${d.replace('_', ' ').toLowerCase()}</option>`,
    )}</select>
    <label for="idCountry">Country of issue of the ID</label><select id="idCountry" name="idCountry"
    required><option value="">Select</option>${options}</select>
    <label for="front">Front of the document (JPEG, PNG or PDF, max 5 MB)</label><input type="file" id="front"
    name="front" accept="image/jpeg,image/png,application/pdf">
    <label for="back">Back of the document</label><input type="file" id="back" name="back"
    accept="image/jpeg,image/png,application/pdf">
    <label for="selfie">Selfie</label><input type="file" id="selfie" name="selfie" accept="image/jpeg,image/png">
    <button class="btn" type="submit">Next</button></form></div>`;
}

export function addressView(token: string, state: string, rejected: string | null) {
  if (state === 'VERIFIED_PLUS')
    return html`<div class="card"><h1>Address verified</h1><p>Your daily limit is 200,000 USD.</p><a class="btn"
      href="${back(token)}">Continue</a></div>`;
  if (state === 'REVIEW')
    return html`<div class="card"><h1>Under Review</h1>
      <p id="address-review">Your proof of address is under review. Your daily limit stays 50,000 USD meanwhile.</p>
      <a class="btn" href="${back(token)}">Continue</a></div>`;
  return html`<div class="card"><h1>Verify your address</h1>
    ${
      rejected
        ? html`<div class="error"
      id="address-rejected">Your proof of address was rejected: ${rejected}. Please upload another document.</div>`
        : ''
    }
    <p class="muted">Verified Plus raises your daily limit to 200,000 USD. Upload a utility bill or bank statement of \
the last 3 months showing your name and address.</p>
    <div class="error" id="kyc-error" hidden></div>
    <form id="address-form" data-action="address"><label for="addressLine">Residential address</label><input type="text"
    id="addressLine" name="addressLine" required maxlength="200">
    <label for="city">City</label><input type="text" id="city" name="city" required maxlength="100">
    <label for="postalCode">Postal code</label><input type="text" id="postalCode" name="postalCode" maxlength="20">
    <label for="proof">Proof of address (JPEG, PNG or PDF, max 5 MB)</label><input type="file" id="proof" name="proof"
    accept="image/jpeg,image/png,application/pdf">
    <button class="btn" type="submit">Submit</button></form>
    <p><a href="${back(token)}">Not now</a></p></div>`;
}

export function cardView({ token, csrf }: Page, error?: string) {
  return html`<div class="card"><h1>Add new card</h1>
    <div class="muted">1 — 2 · Enter card information</div>${errBox(error)}
    <form method="post" action="${BASE}/card?token=${token}"><input type="hidden" name="csrf" value="${csrf}">
    <label for="name">Name on Card</label><input type="text" id="name" name="name" autocomplete="cc-name" required
    maxlength="64">
    <label for="number">Card Number</label><input type="text" id="number" name="number" inputmode="numeric"
    autocomplete="cc-number" required maxlength="23">
    <label for="expiry">Expiry Date (MM/YY)</label><input type="text" id="expiry" name="expiry" autocomplete="cc-exp"
    required maxlength="7">
    <label for="cvv">Security Code (CVV)</label><input type="password" id="cvv" name="cvv" inputmode="numeric"
    autocomplete="cc-csc" required maxlength="3">
    <button class="btn" type="submit">Next</button></form>
    <p class="muted">Visa and Mastercard are accepted in \
${SUPPORTED_CARD_COUNTRIES.filter((r) => r.visa || r.mastercard).length} countries.</p></div>`;
}

/**
 * Where the status and expired pages' "Back to {partner}" button leads (binance-connect-v2.md §4.7.2). Gen-1: the
 * order's merchantRedirectUrl. Gen-2: redirectUrl while the order runs and once it succeeds, failRedirectUrl once it
 * has failed (96–99) or expired, each replaced by its deep link when the partner said clientType=mobile and gave one;
 * no address for the outcome → no button. `auto`: AUTO_REDIRECTION was asked for and the order is final, so the page
 * sends the person there at once (src/web/assets/connect-return.js), the button staying as the fallback.
 */
export interface ReturnLink {
  url: string;
  partnerName: string;
  auto: boolean;
}
export function returnLink(o: ConnectOrder, partnerName: string, expired = false): ReturnLink | null {
  const g = o.generation === 2 ? o.gen2 : null;
  if (!g) return o.merchantRedirectUrl ? { url: o.merchantRedirectUrl, partnerName, auto: false } : null;
  const status = o.gen2Status ?? STATUS.INIT;
  const failed = expired || (isFinalStatus(status) && status !== STATUS.COMPLETED);
  const mobile = g.clientType === 'mobile';
  const url = failed
    ? (mobile && g.failRedirectDeepLink) || g.failRedirectUrl
    : (mobile && g.redirectDeepLink) || g.redirectUrl;
  if (!url) return null;
  const final = failed || status === STATUS.COMPLETED;
  return { url, partnerName, auto: final && g.customization.AUTO_REDIRECTION === true };
}

/** The partner's name as the pages show it: a gen-2 order's MERCHANT_DISPLAY_NAME (§7) when it has one. */
export function partnerDisplayName(o: ConnectOrder, partnerName: string): string {
  const shown = o.generation === 2 ? o.gen2?.customization.MERCHANT_DISPLAY_NAME : undefined;
  return typeof shown === 'string' && shown.trim() !== '' ? shown : partnerName;
}

const returnButton = (r: ReturnLink, cls = 'btn secondary') =>
  html`<a class="${cls}" id="close" href="${r.url}"${r.auto ? html` data-auto-return` : ''}>Back to ${r.partnerName}</a>`;

export function statusView(
  { token, csrf }: Page,
  o: ConnectOrder,
  v: {
    /** Where "Back to" leads (returnLink), or null: gen-1 shows Done (it tells a parent frame), gen-2 nothing. */
    returnTo: ReturnLink | null;
    generation: 1 | 2;
    origins: string[];
    step: Step;
    locked: LockedQuote | null;
    txHash: string | null;
    txUrl: string | null;
  },
  error?: string,
) {
  return html`<div class="card" data-live data-key="${liveKey(v.step, o, v.txHash)}" data-sub="${o.subStatus}"
    data-main="${o.mainStatus}" data-moid="${o.merchantOrderId}" data-oid="${o.orderId}"
    data-origins="${v.origins.join(' ')}">
    ${errBox(error)}${orderStatusView({ order: o, locked: v.locked, txHash: v.txHash, txUrl: v.txUrl })}
    ${
      o.subStatus === 'WITHDRAW_FAILED'
        ? html`<form method="post"
      action="${BASE}/retry?token=${token}"><input type="hidden" name="csrf" value="${csrf}"><button class="btn"
      id="retry" type="submit">Retry withdrawal</button></form>`
        : ''
    }
    ${
      v.returnTo
        ? returnButton(v.returnTo)
        : v.generation === 1
          ? html`<button class="btn secondary" id="done" type="button">Done</button>`
          : ''
    }</div>`;
}
export const expiredView = (back: ReturnLink | null) => html`<div class="card"><h1>Order expired</h1>
  <p class="muted">This link is no longer valid. Return to the app and start a new purchase.</p>
        ${back ? returnButton(back, 'btn') : ''}</div>`;

/** A link whose token names no order at all (mistyped, cut short, made up): nothing ever expired. */
export const linkNotValidView = () => html`<div class="card"><h1>Link not valid</h1>
  <p class="muted" id="link-not-valid">This buy link is not valid. Return to the app you came from and start the
  purchase again.</p></div>`;

export const notYourOrderView = (message: unknown) =>
  html`<div class="card"><h1>Not your order</h1>${errBox(message)}</div>`;

/** The identity check is under review: the page polls /state and moves on when the review ends. */
export function kycReviewView(
  brand: string,
  order: ConnectOrder,
  kycState: string,
  expectTime: number | null,
  origins: string[],
) {
  return html`<div class="card" data-live data-key="${order.subStatus}:${kycState}" data-sub="${order.subStatus}"
    data-main="${order.mainStatus}" data-moid="${order.merchantOrderId}" data-oid="${order.orderId}"
    data-origins="${origins.join(' ')}">
        <h1>Under Review</h1><p>Your Intermediate Verification is under review. Estimated completion date: <b \
id="eta">${expectTime ? new Date(expectTime).toISOString().slice(0, 10) : ''} (UTC)</b>.</p>
        <p class="muted">This information is used for intermediate verification only, and is kept private and \
confidential by ${brand}.</p></div>`;
}

export const cardUnavailableView = (message: string) =>
  html`<div class="card"><h1>Card payment unavailable</h1>${errBox(message)}</div>`;
export const errorCardView = (message: unknown) => html`<div class="card">${errBox(message)}</div>`;

/**
 * The confirm page: the locked quote (refreshed by the script when it expires), the saved cards, the address and the
 * authorization text. Why the last attempt failed is shown until the person has just added a card that has not failed.
 */
export function confirmView(
  { token, csrf, brand }: Page,
  v: {
    order: ConnectOrder;
    quote: LockedQuote;
    cards: SavedCard[];
    chosen: SavedCard;
    addedCardId?: string;
    verified: boolean;
    now: number;
    error?: string;
  },
) {
  const { order, quote, cards, chosen } = v;
  const sym = FIAT_SYMBOL[order.fiatCurrency] ?? `${order.fiatCurrency} `;
  const today = new Date(v.now).toISOString().slice(0, 10);
  const problem =
    v.error ??
    (order.errorCode && !(v.addedCardId === chosen.id && !chosen.lastFailure)
      ? PAYMENT_PROBLEMS[order.errorCode]
      : undefined);
  return html`<div class="card"><h1>Confirm Payment</h1>${
    problem
      ? html`<div class="error" role="alert"
    id="payment-error">${problem}</div>`
      : ''
  }
      <div class="muted">You receive</div><div class="amount">
      <span id="q-cryptoAmount" data-asset="${order.cryptoCurrency}">${displayNumber(
        quote.cryptoAmount,
        order.cryptoCurrency,
      )}</span> ${order.cryptoCurrency}</div>
      <h2>Payment details</h2>
      <div class="row"><span>You pay</span><span id="you-pay">${sym}${displayNumber(order.orderAmount, order.fiatCurrency)}</span></div>
      <div class="row"><span>Price</span><span>1 ${order.cryptoCurrency} = <span \
id="q-quotePrice" data-asset="${order.fiatCurrency}">${displayNumber(quote.quotePrice, order.fiatCurrency)}</span> ${order.fiatCurrency}</span></div>
      <div class="row"><span>Transaction fee</span><span>${sym}<span id="q-userFee" data-asset="${order.fiatCurrency}">${displayNumber(
        quote.userFee,
        order.fiatCurrency,
      )}</span></span></div>
      <div class="row"><span>Network fee</span><span><span \
id="q-networkFee" data-asset="${order.cryptoCurrency}">${displayNumber(quote.networkFee, order.cryptoCurrency)}</span> ${order.cryptoCurrency}</span></div>
      <form method="post" action="${BASE}/confirm?token=${token}"><input type="hidden" name="csrf" value="${csrf}">
      <h2>Payment method</h2>${cards.map(
        (c) => html`<label class="choice" data-card="${c.last4}"><input type="radio"
        name="cardId" value="${c.id}" ${c.id === chosen.id ? html`checked` : ''}> \
${c.brand === 'VISA' ? 'Visa' : 'Mastercard'} ****${c.last4}${
          c.lastFailure
            ? html`<span \
class="tag">${CARD_FAILURE_TAGS[c.lastFailure] ?? 'Failed last time'}</span>`
            : ''
        }</label>`,
      )}
      <a href="${back(token, '&step=addcard')}">Add new card</a>
      ${
        v.verified
          ? html`<p class="muted"><a id="address-link"
        href="${back(token, '&step=address')}">Verify your address</a> to raise your daily limit from 50,000 to \
200,000 \
USD.</p>`
          : ''
      }
      <h2>Send to</h2><div id="send-to" style="word-break:break-all">${order.cryptoAddress}</div>
      <div class="muted">Network \
${order.cryptoNetwork}${order.cryptoAddressMemo ? html` · Memo ${order.cryptoAddressMemo}` : ''}</div>
      <p class="muted">I agree to ${brand} Terms of Use and Privacy Policy and I authorize ${brand} to debit my chosen \
payment method for the amount above on ${today}.</p>
      ${
        order.generation === 2
          ? html`<label class="choice"><input type="checkbox" name="keep" value="1" id="keep-in-account"> Keep the \
${order.cryptoCurrency} in my ${brand} account instead of sending it</label>`
          : ''
      }
      <span id="countdown" data-expires="${quote.expiresAt}" data-now="${v.now}" hidden></span>
      <button class="btn" id="confirm-btn" type="submit">Confirm (59s)</button></form>
      <form method="post" action="${BASE}/close?token=${token}"><input type="hidden"
      name="csrf" value="${csrf}"><button class="btn secondary" id="cancel-order"
      type="submit">Cancel order</button></form></div>`;
}

/**
 * Send primary (binance-connect-v2.md §10.4): the user's own crypto is offered first. When the balance covers the
 * amount and the network fee the button sends it; otherwise the page says so and the same form turns the order into a
 * purchase (the chain checks the balance again when it holds the funds).
 */
export function sendView(
  { token, csrf }: Page,
  v: { order: ConnectOrder; balance: string; partnerName: string; error?: string },
) {
  const { order } = v;
  const amount = order.gen2?.requestedAmount ?? '0';
  const total = new Decimal(amount).plus(order.networkFee);
  const enough = new Decimal(v.balance).gte(total);
  const c = order.cryptoCurrency;
  return html`<div class="card"><h1>Send ${c}</h1>${
    v.error ? html`<div class="error" role="alert" id="send-error">${v.error}</div>` : ''
  }
      <p class="muted">${v.partnerName} asks you to send this from your account.</p>
      <div class="muted">The address receives</div><div class="amount"><span id="send-amount">${displayNumber(
        amount,
        c,
      )}</span> ${c}</div>
      <div class="row"><span>Network fee</span><span>${displayNumber(order.networkFee, c)} ${c}</span></div>
      <div class="row"><span>Total from your balance</span><span id="send-total">${displayNumber(
        total.toFixed(),
        c,
      )} ${c}</span></div>
      <div class="row"><span>Your balance</span><span id="send-balance">${displayNumber(v.balance, c)} ${c}</span></div>
      <h2>Send to</h2><div id="send-to" style="word-break:break-all">${order.cryptoAddress}</div>
      <div class="muted">Network ${order.cryptoNetwork}${
        order.cryptoAddressMemo ? html` · Memo ${order.cryptoAddressMemo}` : ''
      }</div>
      ${
        enough
          ? ''
          : html`<p class="muted" id="send-short">Your balance does not cover ${displayNumber(
              total.toFixed(),
              c,
            )} ${c}. You can buy the ${c} with a card instead.</p>`
      }
      <form method="post" action="${BASE}/send?token=${token}"><input type="hidden" name="csrf" value="${csrf}">
      <button class="btn" id="send-btn" type="submit">${enough ? `Send ${c}` : `Buy ${c} instead`}</button></form>
      <form method="post" action="${BASE}/close?token=${token}"><input type="hidden"
      name="csrf" value="${csrf}"><button class="btn secondary" id="cancel-order"
      type="submit">Cancel order</button></form></div>`;
}
