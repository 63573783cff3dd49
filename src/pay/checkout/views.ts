import { html, type SafeHtml } from '../../web/html.ts';
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

/** One currency the payer can pay in: the amount due in it ('—' without a price) and their available balance. */
export interface PayOption {
  currency: string;
  due: string;
  balance: string;
}

interface CheckoutData {
  order: Order;
  merchantName: string | null;
  /** The sub-merchant's logo (https), shown beside its name (binance-pay-extended.md §12.5). */
  brandLogo?: string | null;
  /** The logged-in payer's KYC country is blocked by the order's sub-merchant: no pay form (§12.5). */
  blocked?: boolean;
  /** The status shown (an INITIAL order past expireTime shows as EXPIRED). */
  status: string;
  now: number;
  csrf: string;
  checkoutUrl: string;
  /** The logged-in payer and their options, or null when nobody is logged in. */
  payer: { email: string; options: PayOption[] } | null;
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
        </form></div>`;
  }
  if (d.blocked) {
    return html`<div class="card"><h2>Payment not available</h2>
        <div class="error" role="alert" id="blocked">${COUNTRY_BLOCKED_MESSAGE}</div>
        <p class="muted">Logged in as ${d.payer.email}</p>
        <form method="post" action="/checkout/${o.checkoutToken}/logout"><input type="hidden"
        name="csrf" value="${d.csrf}"><button class="btn secondary" type="submit">Log out</button></form></div>`;
  }
  const options = d.payer.options.map(
    (p, i) => html`<label class="choice"><input type="radio" name="currency" value="${p.currency}"
      ${i === 0 ? html`checked` : ''}>
          <span><strong>${p.due} ${p.currency}</strong><br>\
<span class="muted">Balance: ${p.balance} ${p.currency}</span></span></label>`,
  );
  return html`<div class="card"><h2>Pay with your wallet</h2><p class="muted">Logged in as ${d.payer.email}</p>
        <form method="post" action="/checkout/${o.checkoutToken}/pay">
          <input type="hidden" name="csrf" value="${d.csrf}">${options}
          <button class="btn" id="pay" type="submit">Pay ${o.orderAmount} ${o.currency}</button>
        </form>
        <form method="post" action="/checkout/${o.checkoutToken}/logout"><input type="hidden"
        name="csrf" value="${d.csrf}"><button class="btn secondary" type="submit">Log out</button></form></div>`;
}

/**
 * The checkout page: summary, status, countdown, QR code and deeplink, then login or payment while the order is open.
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
        <div class="amount" id="amount">${o.orderAmount} ${o.currency}</div>
        ${o.fiatCurrency && o.fiatAmount ? html`<div class="muted">≈ ${o.fiatAmount} ${o.fiatCurrency}</div>` : ''}
        <div class="status ${st.cls}" id="status">${st.text}</div>
        ${open ? html`<p class="muted">Expires in <span class="countdown" id="countdown">--:--</span></p>` : ''}
        ${error ? html`<div class="error" role="alert">${error}</div>` : ''}
      </div>
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
          ? html`<div class="card" style="text-align:center"><h2>Scan to pay</h2>
        <img class="qr" id="qr" src="/checkout/${o.checkoutToken}/qr.png" alt="QR code for this payment">
        <a class="btn secondary" id="deeplink" href="${d.checkoutUrl}">Open in Rampart app</a></div>`
          : ''
      }
      ${open ? payBlock(d) : ''}
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
