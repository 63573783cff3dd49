import type { Delivery } from '../../platform/outbox/delivery.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { ConsoleSection } from './routes.ts';
import { CONSOLE, actionButton, card, facts, table, time, type ConsoleCtx } from './views.ts';

/**
 * Webhook deliveries of every family (Pay, Connect, KYC Sharing): a list filtered by status, family, owner and business
 * id; a delivery's page with the body that was sent and each attempt's request and answer; Redeliver (the admin API's
 * redeliver: same body, freshly signed headers, a new round of attempts).
 */
const STATUSES = ['PENDING', 'DELIVERED', 'FAILED'] as const;
const FAMILIES = ['pay', 'connect', 'kyc'] as const;
const ID = /^\d{1,19}$/;

/** A delivery as the admin API answers it: the outbox's own shape, so the page and the API cannot drift apart. */
export type DeliveryRow = Delivery;

export const deliveryStatus = (s: string) =>
  html`<span class="status nowrap ${s === 'DELIVERED' ? 'ok' : s === 'FAILED' ? 'bad' : 'wait'}">${s}</span>`;

const eventName = (d: DeliveryRow) => (d.bizType === 'TEST' ? 'Test event' : `${d.bizType} ${d.bizStatus}`);

const lastAnswer = (d: DeliveryRow) => {
  const a = d.attempts[d.attempts.length - 1];
  if (!a) return 'not attempted yet';
  return a.httpStatus !== null ? `HTTP ${a.httpStatus}${a.acked ? '' : ' (not acknowledged)'}` : (a.error ?? '—');
};

/** Deliveries as rows linking to their pages (shared with the order pages). */
export const deliveriesTable = (list: DeliveryRow[], empty = 'No webhook deliveries match.') =>
  table(
    ['Delivery', 'Event', 'Family · owner', 'Status', 'Attempts', 'Last answer', 'Created'],
    list.map((d) => [
      html`<a class="mono" href="${CONSOLE}/webhooks/${d.id}">${d.id}</a>`,
      html`${eventName(d)}<br><span class="mono muted small">${d.bizId}</span>`,
      html`${d.family} · <span class="mono">${d.ownerId}</span>`,
      deliveryStatus(d.status),
      String(d.attempts.length),
      lastAnswer(d),
      time(d.createdAt),
    ]),
    empty,
  );

interface Filters {
  status?: string;
  family?: string;
  ownerId?: string;
  bizId?: string;
}

function listView(list: DeliveryRow[], f: Filters): SafeHtml {
  const option = (value: string, label: string, selected: boolean) =>
    html`<option value="${value}"${selected ? html` selected` : ''}>${label}</option>`;
  return card(html`<h1>Webhook deliveries</h1>
    <form method="get" action="${CONSOLE}/webhooks" class="filters" id="delivery-filters">
      <label for="status">Status</label><select id="status" name="status">${option('', 'Any status', !f.status)}${STATUSES.map(
        (s) => option(s, s, f.status === s),
      )}</select>
      <label for="family">Family</label><select id="family" name="family">${option('', 'Any family', !f.family)}${FAMILIES.map(
        (s) => option(s, s, f.family === s),
      )}</select>
      <label for="ownerId">Owner (merchant id, partner code, broker key)</label>
      <input id="ownerId" name="ownerId" type="text" maxlength="64" value="${f.ownerId ?? ''}">
      <label for="bizId">Business id (prepayId, order id, …)</label>
      <input id="bizId" name="bizId" type="text" maxlength="128" value="${f.bizId ?? ''}">
      <button class="btn secondary" type="submit">Filter</button></form>
    <p class="muted small">Newest first, at most 100.</p>
    ${deliveriesTable(list)}`);
}

/** The stored body, pretty-printed when it is JSON (the bytes sent are exactly `body`, shown below it). */
function prettyBody(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

function deliveryView(ctx: ConsoleCtx, d: DeliveryRow): SafeHtml {
  const rounds = [...new Set(d.attempts.map((a) => a.round))];
  return html`${card(html`<p><a href="${CONSOLE}/webhooks">← Webhook deliveries</a></p>
      <h1>Delivery <span class="mono">${d.id}</span></h1>
      ${facts([
        ['Status', html`<span id="delivery-status">${deliveryStatus(d.status)}</span>`],
        ['Event', eventName(d)],
        ['Family', d.family],
        ['Owner', html`<span class="mono">${d.ownerId}</span>`],
        ['Business id', html`<span class="mono">${d.bizId}</span>`],
        ['URL', html`<span class="mono">${d.url}</span>`],
        ['Created', time(d.createdAt)],
        ['Completed', time(d.completedAt)],
        ['Next attempt', d.status === 'PENDING' ? time(d.nextAttemptAt) : '—'],
        ['Redelivered', d.round > 0 ? `${d.round} time(s)` : 'never'],
        ['Last error', d.lastError ?? '—'],
      ])}
      ${
        d.status === 'PENDING'
          ? html`<p class="muted">Pending: it is attempted on its schedule; Redeliver applies once it is delivered or
            failed.</p>`
          : html`<div class="actions">${actionButton(ctx, `${CONSOLE}/webhooks/${d.id}/redeliver`, 'Redeliver')}</div>`
      }`)}
    ${card(html`<h2>Request</h2>
      ${facts([
        ['Method', 'POST'],
        ['URL', html`<span class="mono">${d.url}</span>`],
        ['Content-Type', 'application/json'],
        ['Signature headers', `the ${d.family} family's, signed afresh for each attempt (not stored)`],
      ])}
      <h2>Body</h2><pre id="delivery-body">${prettyBody(d.body)}</pre>`)}
    ${card(
      html`<h2>Attempts</h2>${d.attempts.length === 0 ? html`<p class="muted">Not attempted yet.</p>` : ''}${rounds.map(
        (
          round,
        ) => html`${rounds.length > 1 ? html`<h2>${round === 0 ? 'First delivery' : `Redelivery ${round}`}</h2>` : ''}
      ${table(
        ['#', 'Time', 'URL', 'HTTP status', 'Latency', 'Response', 'Error'],
        d.attempts
          .filter((a) => a.round === round)
          .map((a) => [
            String(a.attemptNo),
            time(a.attemptedAt),
            html`<span class="mono">${a.url}</span>`,
            a.httpStatus === null
              ? '—'
              : html`<span class="${a.acked ? 'ok' : 'bad'}">${a.httpStatus}${a.acked ? ' (acknowledged)' : ''}</span>`,
            `${a.latencyMs} ms`,
            a.response === null || a.response === '' ? '—' : html`<code class="attempt-response">${a.response}</code>`,
            a.error ?? '—',
          ]),
        '',
      )}`,
      )}`,
    )}`;
}

export const webhooksSection: ConsoleSection = (pages) => {
  pages.get('/webhooks', async (req, reply, ctx) => {
    const q = req.query as Record<string, string | undefined>;
    const f: Filters = {
      status: STATUSES.includes(q.status as (typeof STATUSES)[number]) ? q.status : undefined,
      family: FAMILIES.includes(q.family as (typeof FAMILIES)[number]) ? q.family : undefined,
      ownerId: q.ownerId?.trim().slice(0, 64) || undefined,
      bizId: q.bizId?.trim().slice(0, 128) || undefined,
    };
    const params = new URLSearchParams({ limit: '100' });
    for (const [k, v] of Object.entries(f)) if (v) params.set(k, v);
    const res = await pages.api(ctx, 'GET', `/admin/v1/webhooks/deliveries?${params}`);
    const list: DeliveryRow[] = res.ok ? res.body.deliveries : [];
    return pages.frame(reply, 'Webhook deliveries', listView(list, f), ctx);
  });

  pages.get('/webhooks/:id', async (req, reply, ctx) => {
    const id = (req.params as { id: string }).id;
    if (!ID.test(id)) return pages.notFound(reply, ctx);
    const res = await pages.api(ctx, 'GET', `/admin/v1/webhooks/deliveries/${id}`);
    if (!res.ok) return pages.notFound(reply, ctx);
    return pages.frame(reply, `Delivery ${id}`, deliveryView(ctx, res.body as DeliveryRow), ctx);
  });

  pages.post('/webhooks/:id/redeliver', async (req, reply, ctx) => {
    const id = (req.params as { id: string }).id;
    if (!ID.test(id)) return pages.notFound(reply, ctx);
    const back = `${CONSOLE}/webhooks/${id}`;
    const res = await pages.api(ctx, 'POST', `/admin/v1/webhooks/deliveries/${id}/redeliver`);
    if (!res.ok) return pages.redirect(reply, back, { error: `Not redelivered: ${res.message}` });
    return pages.redirect(reply, back, { ok: `Delivery ${id} queued again: a new round of attempts starts now.` });
  });
};
