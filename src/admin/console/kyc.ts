import { z } from 'zod';
import { html, type SafeHtml } from '../../web/html.ts';
import { formText } from '../../web/page.ts';
import type { ConsoleSection } from './routes.ts';
import { CONSOLE, card, csrfField, facts, table, time, type ConsoleCtx } from './views.ts';

/**
 * The KYC review queue: buy-flow and broker-shared records side by side, filtered by status and source; a record's
 * submitted fields with its documents shown inline (decrypted per request by the admin API, never written to disk in
 * clear, never cached), the decision form and the record's history. Reviewers see only these pages.
 */
const STATUSES = ['REVIEW', 'PROCESS', 'INITIAL', 'PASS', 'REJECT'] as const;
const SOURCES: Record<string, string> = { buyflow: 'Connect buy flow', broker: 'Broker (KYC Sharing)' };
const REVIEWERS = { roles: ['admin', 'reviewer'] as ('admin' | 'reviewer')[] };
const ID = /^\d{1,19}$/;
const DecisionForm = z.object({ decision: formText, reason: formText });

interface QueueRow {
  id: string;
  source: string;
  kycStatus: string;
  basicStatus: string;
  identityStatus: string;
  faceStatus: string;
  entityCustomerId: string | null;
  bizEntityKey: string | null;
  createdAt: number;
  updatedAt: number;
}

const statusTag = (s: string) =>
  html`<span class="status ${s === 'PASS' ? 'ok' : s === 'REJECT' ? 'bad' : 'wait'}">${s}</span>`;

function queueView(rows: QueueRow[], status: string | undefined, source: string | undefined): SafeHtml {
  const option = (value: string, label: string, selected: boolean) =>
    html`<option value="${value}"${selected ? html` selected` : ''}>${label}</option>`;
  return card(html`<h1>KYC review queue</h1>
    <form method="get" action="${CONSOLE}/kyc" class="filters">
      <label for="status">Status</label><select id="status" name="status">${option('', 'Any status', !status)}${STATUSES.map(
        (s) => option(s, s === 'REVIEW' ? 'REVIEW (waiting for a decision)' : s, status === s),
      )}</select>
      <label for="source">Source</label><select id="source" name="source">${option('', 'Any source', !source)}${Object.entries(
        SOURCES,
      ).map(([v, l]) => option(v, l, source === v))}</select>
      <button class="btn secondary" type="submit">Filter</button></form>
    ${table(
      ['Record', 'Source', 'Status', 'Checks', 'Submitted', 'Last change'],
      rows.map((r) => [
        html`<a href="${CONSOLE}/kyc/${r.id}">${r.id}</a>`,
        SOURCES[r.source] ?? r.source,
        statusTag(r.kycStatus),
        `basic ${r.basicStatus} · identity ${r.identityStatus} · face ${r.faceStatus}`,
        time(r.createdAt),
        time(r.updatedAt),
      ]),
      status === 'REVIEW' ? 'Nothing is waiting for review.' : 'No KYC records match.',
    )}`);
}

interface RecordDetail {
  id: string;
  source: string;
  statusInfo: Record<string, unknown> & { kycStatus: string; failReason: string | null };
  basicInfo: Record<string, unknown> | null;
  identityInfo: Record<string, unknown> | null;
  tncInfo: Record<string, unknown> | null;
  questionnaireInfo: Record<string, unknown> | null;
  files: { id: string; field: string; contentType: string; sizeBytes: number; createdAt: number }[];
  history: {
    version: number;
    at: number;
    kycStatus: string;
    checks: string;
    failReason: string | null;
    note: string | null;
  }[];
}

/** A submitted section's fields as label / value rows (nested values as compact JSON). */
function fieldRows(title: string, info: Record<string, unknown> | null): SafeHtml {
  if (!info) return html`<h2>${title}</h2><p class="muted">Not submitted.</p>`;
  return html`<h2>${title}</h2>${facts(
    Object.entries(info).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  )}`;
}

function recordView(ctx: ConsoleCtx, r: RecordDetail): SafeHtml {
  const inReview = r.statusInfo.kycStatus === 'REVIEW';
  const images = r.files.filter((f) => f.contentType.startsWith('image/'));
  const others = r.files.filter((f) => !f.contentType.startsWith('image/'));
  return html`${card(html`<p><a href="${CONSOLE}/kyc">← Review queue</a></p>
      <h1>KYC record ${r.id}</h1>
      ${facts([
        ['Source', SOURCES[r.source] ?? r.source],
        ['Status', statusTag(r.statusInfo.kycStatus)],
        ['Basic check', String(r.statusInfo.basicStatus ?? '—')],
        ['Identity check', String(r.statusInfo.identityStatus ?? '—')],
        ['Face check', String(r.statusInfo.faceStatus ?? '—')],
        ['Why rejected', r.statusInfo.failReason ?? '—'],
        ['Broker', r.statusInfo.bizEntityKey ? String(r.statusInfo.bizEntityKey) : '—'],
        ['Customer id', r.statusInfo.entityCustomerId ? String(r.statusInfo.entityCustomerId) : '—'],
      ])}`)}
    ${card(
      inReview
        ? html`<h2>Decision</h2><p class="muted">Approve when the documents match the submitted identity; a rejection
            tells the person (or the broker) the reason.</p>
          <form method="post" action="${CONSOLE}/kyc/${r.id}/decision" id="decision">${csrfField(ctx)}
            <label for="reason">Reason (shown to the person when rejected)</label>
            <input id="reason" name="reason" type="text" maxlength="256" placeholder="e.g. The document photo is blurred">
            <div class="actions"><button class="btn" type="submit" name="decision" value="PASS">Approve</button>
            <button class="btn secondary" type="submit" name="decision" value="REJECT">Reject</button></div></form>`
        : html`<h2>Decision</h2><p class="muted">This record is ${r.statusInfo.kycStatus}: there is nothing to decide.
            A decision is possible while it waits for review.</p>`,
    )}
    ${card(
      html`<h2>Documents</h2>${
        r.files.length === 0 ? html`<p class="muted">No documents were uploaded.</p>` : ''
      }${images.map(
        (f) => html`<figure class="kyc-doc"><img src="${CONSOLE}/kyc/${r.id}/files/${f.id}" alt="${f.field}"
        style="max-width:100%;height:auto;border-radius:8px;border:1px solid #eaecef">
        <figcaption class="muted small">${f.field} · ${f.contentType} · ${f.sizeBytes} bytes · ${time(f.createdAt)}</figcaption></figure>`,
      )}${others.map(
        (
          f,
        ) => html`<p><a href="${CONSOLE}/kyc/${r.id}/files/${f.id}">${f.field}</a> <span class="muted small">${f.contentType}
        · ${f.sizeBytes} bytes</span></p>`,
      )}`,
    )}
    ${card(
      html`${fieldRows('Basic information', r.basicInfo)}${fieldRows('Identity', r.identityInfo)}${fieldRows(
        'Terms and conditions',
        r.tncInfo,
      )}${fieldRows('Questionnaire', r.questionnaireInfo)}`,
    )}
    ${card(
      html`<h2>History</h2>${table(
        ['Time', 'Status', 'Checks', 'What happened'],
        r.history.map((h) => [
          time(h.at),
          statusTag(h.kycStatus),
          h.checks,
          h.note ?? (h.failReason ? `Rejected: ${h.failReason}` : 'Submitted or checked'),
        ]),
        'No changes recorded yet.',
      )}`,
    )}
    ${inReview ? '' : html`<p><a href="${CONSOLE}/kyc?status=REVIEW">Back to the queue</a></p>`}`;
}

export const kycSection: ConsoleSection = (pages) => {
  pages.get(
    '/kyc',
    async (req, reply, ctx) => {
      const q = req.query as Record<string, string | undefined>;
      const status = STATUSES.includes(q.status as (typeof STATUSES)[number]) ? q.status : undefined;
      const source = q.source && q.source in SOURCES ? q.source : undefined;
      const params = new URLSearchParams();
      if (status) params.set('status', status);
      if (source) params.set('source', source);
      const res = await pages.api(ctx, 'GET', `/admin/v1/kyc?${params}`);
      return pages.frame(reply, 'KYC review', queueView(res.ok ? res.body : [], status, source), ctx);
    },
    REVIEWERS,
  );

  pages.get(
    '/kyc/:id',
    async (req, reply, ctx) => {
      const id = (req.params as { id: string }).id;
      if (!ID.test(id)) return pages.notFound(reply, ctx);
      const res = await pages.api(ctx, 'GET', `/admin/v1/kyc/${id}`);
      if (!res.ok) return pages.notFound(reply, ctx);
      return pages.frame(reply, `KYC record ${id}`, recordView(ctx, res.body as RecordDetail), ctx);
    },
    REVIEWERS,
  );

  // A document image, decrypted by the admin API for this response only: not stored, not cached by the browser.
  pages.get(
    '/kyc/:id/files/:fileId',
    async (req, reply, ctx) => {
      const p = req.params as { id: string; fileId: string };
      if (!ID.test(p.id) || !ID.test(p.fileId)) return pages.notFound(reply, ctx);
      const res = await pages.apiRaw(ctx, `/admin/v1/kyc/${p.id}/files/${p.fileId}`);
      if (res.status !== 200) return pages.notFound(reply, ctx);
      return reply
        .type(res.contentType)
        .header('cache-control', 'no-store')
        .header('content-disposition', 'inline')
        .send(res.bytes);
    },
    REVIEWERS,
  );

  pages.postForm(
    '/kyc/:id/decision',
    DecisionForm,
    async (req, reply, ctx, form) => {
      const id = (req.params as { id: string }).id;
      const back = `${CONSOLE}/kyc/${ID.test(id) ? id : ''}`;
      if (!ID.test(id)) return pages.notFound(reply, ctx);
      if (form.decision !== 'PASS' && form.decision !== 'REJECT')
        return pages.redirect(reply, back, { error: 'Choose Approve or Reject.' });
      const reason = (form.reason ?? '').trim().slice(0, 256);
      const res = await pages.api(ctx, 'POST', `/admin/v1/kyc/${id}/decision`, {
        decision: form.decision,
        ...(reason ? { reason } : {}),
      });
      if (!res.ok) return pages.redirect(reply, back, { error: `Not decided: ${res.message}` });
      return pages.redirect(reply, back, {
        ok:
          form.decision === 'PASS' ? `Record ${id} approved.` : `Record ${id} rejected${reason ? `: ${reason}` : ''}.`,
      });
    },
    REVIEWERS,
  );
};
