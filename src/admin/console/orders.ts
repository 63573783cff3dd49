import { displayAmount } from '../../web/amount.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { transfersTable, type TransferRow } from './ledger.ts';
import type { ConsoleSection } from './routes.ts';
import { CONSOLE, card, facts, table, time } from './views.ts';
import { deliveriesTable, type DeliveryRow } from './webhooks.ts';

/**
 * Orders across Pay and Connect: one search box for any id (Pay: prepayId, merchantTradeNo, transactionId, a refund's
 * id or request id, the payer's e-mail; Connect: order id, externalOrderId, merchantUserId, withdrawal hash), and
 * each order's full history: a Pay order's status changes, refunds, webhook deliveries and ledger transfers; a Connect
 * order's buy-flow steps, card charges, withdrawal with its transaction hash and ledger transfers.
 */
const PREPAY = /^\d{1,19}$/;
const CONNECT_ID = /^[\w-]{1,64}$/;

interface PayHit {
  prepayId: string;
  merchantId: string;
  merchantTradeNo: string;
  status: string;
  currency: string;
  orderAmount: string;
  createTime: number;
}
interface ConnectHit {
  orderId: string;
  partnerCode: string;
  merchantOrderId: string;
  mainStatus: string;
  subStatus: string;
  fiatCurrency: string;
  orderAmount: string;
  cryptoCurrency: string;
  createdAt: number;
}

const statusTag = (s: string) =>
  html`<span class="status nowrap ${
    ['PAID', 'SUCCESS', 'COMPLETED', 'FULL_REFUNDED', 'REFUNDED'].includes(s)
      ? 'ok'
      : ['CANCELED', 'EXPIRED', 'ERROR', 'FAILURE', 'FAILED', 'REJECTED'].includes(s)
        ? 'bad'
        : 'wait'
  }">${s}</span>`;

function searchView(q: string, pay: PayHit[], connect: ConnectHit[], error?: string): SafeHtml {
  return html`${card(html`<h1>Orders</h1>
      <form method="get" action="${CONSOLE}/orders" id="order-search">
        <label for="q">Any id: prepayId, merchantTradeNo, transaction or refund id, payer e-mail, Connect order id,
        externalOrderId, user id or tx hash</label>
        <input id="q" name="q" type="search" maxlength="128" value="${q}" required>
        <button class="btn" type="submit">Search</button></form>
      ${error ? html`<div class="error">${error}</div>` : ''}`)}
    ${
      q
        ? html`${card(
            html`<h2>Binance Pay</h2>${table(
              ['prepayId', 'merchantTradeNo', 'Merchant', 'Amount', 'Status', 'Created'],
              pay.map((o) => [
                html`<a class="mono" href="${CONSOLE}/orders/pay/${o.prepayId}">${o.prepayId}</a>`,
                html`<span class="mono">${o.merchantTradeNo}</span>`,
                html`<a class="mono" href="${CONSOLE}/merchants/${o.merchantId}">${o.merchantId}</a>`,
                displayAmount(o.orderAmount, o.currency),
                statusTag(o.status),
                time(o.createTime),
              ]),
              'No Pay order matches.',
            )}`,
          )}
        ${card(
          html`<h2>Connect</h2>${table(
            ['Order', 'externalOrderId', 'Partner', 'Amount', 'Status', 'Created'],
            connect.map((o) => [
              html`<a class="mono" href="${CONSOLE}/orders/connect/${o.orderId}">${o.orderId}</a>`,
              html`<span class="mono">${o.merchantOrderId}</span>`,
              o.partnerCode,
              html`${displayAmount(o.orderAmount, o.fiatCurrency)} → ${o.cryptoCurrency}`,
              html`${statusTag(o.mainStatus)} <span class="muted small">${o.subStatus}</span>`,
              time(o.createdAt),
            ]),
            'No Connect order matches.',
          )}`,
        )}`
        : ''
    }`;
}

interface PayOrderWhole {
  order: {
    prepayId: string;
    merchantId: string;
    creatorMerchantId: string;
    merchantTradeNo: string;
    apiVersion: string;
    status: string;
    currency: string;
    orderAmount: string;
    fiatCurrency: string | null;
    fiatAmount: string | null;
    productName: string;
    commission: string | null;
    createTime: number;
    expireTime: number;
    transactTime: number | null;
    transactionId: string | null;
    payerId: string | null;
    closedTime: number | null;
    subMerchantId: string | null;
    webhookUrl: string | null;
    paymentInfo: { payMethod: string; paymentInstructions: { currency: string; amount: string }[] } | null;
  };
  refunds: {
    refundId: string;
    refundRequestId: string;
    status: string;
    currency: string;
    refundAmount: string;
    refundReason: string | null;
    createdAt: number;
    completedAt: number | null;
  }[];
  deliveries: DeliveryRow[];
  ledgerTransfers: TransferRow[];
}

/** The order's history as sentences, oldest first: what happened to it, from its own times and related records. */
function payHistory(w: PayOrderWhole): [number, string][] {
  const o = w.order;
  const amount = (v: string, a = o.currency) => displayAmount(v, a);
  const events: [number, string][] = [
    [o.createTime, `Created for ${amount(o.orderAmount)} by merchant ${o.creatorMerchantId} (API ${o.apiVersion}).`],
  ];
  if (o.transactTime !== null) {
    const paid = o.paymentInfo?.paymentInstructions?.[0];
    events.push([
      o.transactTime,
      `Paid${paid ? ` with ${amount(paid.amount, paid.currency)}` : ''}${
        o.paymentInfo ? ` (${o.paymentInfo.payMethod})` : ''
      }${o.payerId ? ` by payer ${o.payerId}` : ''}: transaction ${o.transactionId ?? '—'}.`,
    ]);
  }
  if (o.closedTime !== null) events.push([o.closedTime, `Closed as ${o.status}.`]);
  for (const r of w.refunds) {
    events.push([r.createdAt, `Refund ${r.refundId} of ${amount(r.refundAmount, r.currency)} requested.`]);
    if (r.completedAt !== null)
      events.push([r.completedAt, `Refund ${r.refundId} ${r.status === 'SUCCESS' ? 'succeeded' : 'was rejected'}.`]);
  }
  for (const d of w.deliveries)
    events.push([d.createdAt, `Webhook ${d.bizType} ${d.bizStatus} queued to ${d.url}: now ${d.status}.`]);
  return events.sort((a, b) => a[0] - b[0]);
}

function payOrderView(w: PayOrderWhole): SafeHtml {
  const o = w.order;
  return html`${card(html`<p><a href="${CONSOLE}/orders?q=${o.prepayId}">← Orders</a></p>
      <h1>Pay order <span class="mono">${o.prepayId}</span></h1>
      ${facts([
        ['Status', html`<span id="order-status">${statusTag(o.status)}</span>`],
        ['merchantTradeNo', html`<span class="mono" id="trade-no">${o.merchantTradeNo}</span>`],
        ['Merchant', html`<a class="mono" href="${CONSOLE}/merchants/${o.merchantId}">${o.merchantId}</a>`],
        ['Created by', o.creatorMerchantId === o.merchantId ? 'the merchant' : `TSP ${o.creatorMerchantId}`],
        ['Sub-merchant', o.subMerchantId],
        ['Amount', displayAmount(o.orderAmount, o.currency)],
        ['Fiat', o.fiatAmount && o.fiatCurrency ? displayAmount(o.fiatAmount, o.fiatCurrency) : null],
        ['Commission', o.commission === null ? null : displayAmount(o.commission, o.currency)],
        ['Product', o.productName],
        ['Payer', o.payerId],
        ['Transaction', o.transactionId ? html`<span class="mono">${o.transactionId}</span>` : null],
        ['Created', time(o.createTime)],
        ['Expires', time(o.expireTime)],
        ['Webhook URL', o.webhookUrl ? html`<span class="mono">${o.webhookUrl}</span>` : 'the merchant’s'],
      ])}`)}
    ${card(
      html`<h2>History</h2><ul class="list" id="order-history">${payHistory(w).map(
        ([at, what]) => html`<li><div class="small muted">${time(at)}</div><div>${what}</div></li>`,
      )}</ul>`,
    )}
    ${card(
      html`<h2>Refunds</h2>${table(
        ['Refund', 'Request id', 'Amount', 'Status', 'Requested', 'Completed', 'Reason'],
        w.refunds.map((r) => [
          html`<span class="mono">${r.refundId}</span>`,
          html`<span class="mono">${r.refundRequestId}</span>`,
          displayAmount(r.refundAmount, r.currency),
          statusTag(r.status),
          time(r.createdAt),
          time(r.completedAt),
          r.refundReason,
        ]),
        'No refunds.',
      )}`,
    )}
    ${card(html`<h2>Webhook deliveries</h2>${deliveriesTable(w.deliveries, 'No webhooks for this order.')}`)}
    ${card(html`<h2>Ledger transfers</h2>${transfersTable(w.ledgerTransfers, 'No money moved for this order.')}`)}`;
}

interface ConnectOrderWhole {
  order: ConnectHit & {
    merchantUserId: string | null;
    businessType: string;
    cryptoNetwork: string;
    cryptoAddress: string;
    obtainAmount: string;
    userFee: string;
    networkFee: string;
    errorCode: string | null;
    errorReason: string | null;
    withdrawTxHash: string | null;
    expiredTime: number;
    updatedAt: number;
  };
  buyflow: {
    userId: string;
    step: string;
    stepDueAt: number | null;
    paymentAttempts: number;
    usdAmount: string | null;
    failureCode: string | null;
  } | null;
  history: { from: string; to: string; subStatus: string; errorCode: string | null; at: number }[];
  cardCharges: { chargeId: string; ref: string; status: string; amount: string; currency: string }[];
  ledgerTransfers: TransferRow[];
  withdrawal: {
    id: string;
    status: string;
    network: string;
    address: string;
    amount: string;
    asset: string;
    txHash: string | null;
    confirmations: number;
    confirmationsRequired: number;
    failureReason: string | null;
  } | null;
}

function connectOrderView(w: ConnectOrderWhole, deliveries: DeliveryRow[]): SafeHtml {
  const o = w.order;
  const wd = w.withdrawal;
  return html`${card(html`<p><a href="${CONSOLE}/orders?q=${o.orderId}">← Orders</a></p>
      <h1>Connect order <span class="mono">${o.orderId}</span></h1>
      ${facts([
        ['Status', html`<span id="order-status">${statusTag(o.mainStatus)} ${o.subStatus}</span>`],
        ['externalOrderId', html`<span class="mono">${o.merchantOrderId}</span>`],
        ['Partner', o.partnerCode],
        ['Partner’s user', o.merchantUserId],
        ['Type', o.businessType],
        ['Pays', displayAmount(o.orderAmount, o.fiatCurrency)],
        [
          'Fees',
          `${displayAmount(o.userFee, o.fiatCurrency)} + network ${displayAmount(o.networkFee, o.fiatCurrency)}`,
        ],
        ['Gets', displayAmount(o.obtainAmount, o.cryptoCurrency)],
        ['To', html`${o.cryptoNetwork} <span class="mono">${o.cryptoAddress}</span>`],
        ['Error', o.errorCode ? `${o.errorCode}: ${o.errorReason ?? ''}` : null],
        ['Created', time(o.createdAt)],
        ['Expires', time(o.expiredTime)],
        ['Last change', time(o.updatedAt)],
      ])}`)}
    ${card(html`<h2>Buy flow</h2>${
      w.buyflow
        ? facts([
            ['Step', html`<strong>${w.buyflow.step}</strong>`],
            ['User', w.buyflow.userId],
            ['Payment attempts', String(w.buyflow.paymentAttempts)],
            ['USD value', w.buyflow.usdAmount],
            ['Step due', time(w.buyflow.stepDueAt)],
            ['Failure', w.buyflow.failureCode],
          ])
        : html`<p class="muted">The buyer has not opened the buy flow yet.</p>`
    }
      <h2>Steps</h2>${table(
        ['Time', 'From', 'To', 'Order status', 'Error'],
        w.history.map((h) => [time(h.at), h.from, h.to, h.subStatus, h.errorCode]),
        'No steps yet.',
      )}`)}
    ${card(
      html`<h2>Card charges</h2>${table(
        ['Charge', 'Ref', 'Amount', 'Status'],
        w.cardCharges.map((c) => [
          html`<span class="mono">${c.chargeId}</span>`,
          html`<span class="mono">${c.ref}</span>`,
          displayAmount(c.amount, c.currency),
          statusTag(c.status),
        ]),
        'No card charge.',
      )}`,
    )}
    ${card(
      html`<h2>Withdrawal</h2>${
        wd
          ? facts([
              ['Status', statusTag(wd.status)],
              ['Amount', displayAmount(wd.amount, wd.asset)],
              ['To', html`${wd.network} <span class="mono">${wd.address}</span>`],
              ['Transaction', wd.txHash ? html`<span class="mono" id="tx-hash">${wd.txHash}</span>` : 'not sent yet'],
              ['Confirmations', `${wd.confirmations} of ${wd.confirmationsRequired}`],
              ['Failure', wd.failureReason],
            ])
          : html`<p class="muted">No withdrawal yet.</p>`
      }`,
    )}
    ${card(html`<h2>Webhook deliveries</h2>${deliveriesTable(deliveries, 'No webhooks for this order.')}`)}
    ${card(html`<h2>Ledger transfers</h2>${transfersTable(w.ledgerTransfers, 'No money moved for this order.')}`)}`;
}

export const ordersSection: ConsoleSection = (pages) => {
  pages.get('/orders', async (req, reply, ctx) => {
    const q = String((req.query as Record<string, unknown>).q ?? '')
      .trim()
      .slice(0, 128);
    if (!q) return pages.frame(reply, 'Orders', searchView('', [], []), ctx);
    const res = await pages.api(ctx, 'GET', `/admin/v1/orders/search?${new URLSearchParams({ q })}`);
    if (!res.ok) return pages.frame(reply, 'Orders', searchView(q, [], [], res.message), ctx);
    return pages.frame(reply, 'Orders', searchView(q, res.body.pay, res.body.connect), ctx);
  });

  pages.get('/orders/pay/:prepayId', async (req, reply, ctx) => {
    const id = (req.params as { prepayId: string }).prepayId;
    if (!PREPAY.test(id)) return pages.notFound(reply, ctx);
    const res = await pages.api(ctx, 'GET', `/admin/v1/pay/orders/${id}`);
    if (!res.ok) return pages.notFound(reply, ctx);
    return pages.frame(reply, `Pay order ${id}`, payOrderView(res.body as PayOrderWhole), ctx);
  });

  pages.get('/orders/connect/:orderId', async (req, reply, ctx) => {
    const id = (req.params as { orderId: string }).orderId;
    if (!CONNECT_ID.test(id)) return pages.notFound(reply, ctx);
    const [res, deliveries] = await Promise.all([
      pages.api(ctx, 'GET', `/admin/v1/connect/orders/${id}`),
      pages.api(ctx, 'GET', `/admin/v1/webhooks/deliveries?${new URLSearchParams({ bizId: id, limit: '500' })}`),
    ]);
    if (!res.ok) return pages.notFound(reply, ctx);
    return pages.frame(
      reply,
      `Connect order ${id}`,
      connectOrderView(res.body as ConnectOrderWhole, deliveries.ok ? deliveries.body.deliveries : []),
      ctx,
    );
  });
};
