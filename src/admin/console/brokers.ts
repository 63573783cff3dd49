import { z } from 'zod';
import { html, type SafeHtml } from '../../web/html.ts';
import { formText } from '../../web/page.ts';
import type { ConsoleSection } from './routes.ts';
import { CONSOLE, actionButton, card, csrfField, facts, table, type ConsoleCtx } from './views.ts';
import {
  backLink,
  checkedAttr,
  listField,
  listText,
  secretOnceView,
  selectedAttr,
  statusTag,
  ticked,
} from './merchants-shared.ts';

/**
 * The console's KYC Sharing broker pages: the list, creating a broker (name, partial sharing, IPs, the Connect partner
 * it does facilitated KYC for; the secret is shown once), and a broker's page: IPs, partial sharing, partner link, and
 * rotating its secret (the new one shown once). Every change is a call of the admin API (/admin/v1/brokers...).
 */
const KEY = /^[A-Za-z0-9]{1,128}$/;

const CreateForm = z.object({ name: formText, partialSharing: formText, ipWhitelist: formText, partner: formText });
const SettingsForm = z.object({ partialSharing: formText, ipWhitelist: formText, partner: formText });

interface BrokerRow {
  bizEntityKey: string;
  name: string;
  sharingMode: 'STANDARD' | 'PARTIAL';
  ipWhitelist: string[];
  mainAccountIds: string[];
  questionnaireVersions: string[];
  maxSubAccountsPerUser: number;
  connectPartnerCode: string | null;
  status: 'ACTIVE' | 'DISABLED';
}
interface PartnerOption {
  merchantCode: string;
  name: string;
}

const brokerUrl = (key: string) => `${CONSOLE}/brokers/${key}`;
const partialLabel = 'Partial sharing (the broker shares only some fields and answers a questionnaire)';

function partnerSelect(partners: PartnerOption[], current: string | null): SafeHtml {
  return html`<label for="partner">Connect partner it does facilitated KYC for</label>
    <select id="partner" name="partner"><option value=""${selectedAttr(current === null)}>None</option>${partners.map(
      (p) =>
        html`<option value="${p.merchantCode}"${selectedAttr(current === p.merchantCode)}>${p.name}
          (${p.merchantCode})</option>`,
    )}${
      current !== null && !partners.some((p) => p.merchantCode === current)
        ? html`<option value="${current}" selected>${current} (unknown partner)</option>`
        : ''
    }</select>`;
}

function listView(ctx: ConsoleCtx, rows: BrokerRow[], partners: PartnerOption[]): SafeHtml {
  return html`${card(html`<h1>KYC Sharing brokers</h1>
      ${table(
        ['Broker (bizEntityKey)', 'Name', 'Sharing', 'Status', 'Allowed IPs', 'Connect partner'],
        rows.map((b) => [
          html`<a class="mono" href="${brokerUrl(b.bizEntityKey)}">${b.bizEntityKey}</a>`,
          b.name,
          b.sharingMode === 'PARTIAL' ? 'partial' : 'standard',
          statusTag(b.status),
          b.ipWhitelist.length ? html`<span class="mono">${b.ipWhitelist.join(', ')}</span>` : 'any address',
          b.connectPartnerCode ? html`<span class="mono">${b.connectPartnerCode}</span>` : '—',
        ]),
        'No brokers yet.',
      )}`)}
    ${card(html`<h2>Create a broker</h2>
      <p class="muted">The broker's secret is shown once, on the next page.</p>
      <form method="post" action="${CONSOLE}/brokers" id="create-broker">${csrfField(ctx)}
        <label for="name">Name</label><input id="name" name="name" type="text" maxlength="128" required>
        <label class="choice"><input type="checkbox" name="partialSharing"> ${partialLabel}</label>
        <label for="ipWhitelist">IP whitelist (one address or CIDR range per line; empty: any address)</label>
        <textarea id="ipWhitelist" name="ipWhitelist" rows="2"></textarea>
        ${partnerSelect(partners, null)}
        <button class="btn" type="submit">Create broker</button></form>`)}`;
}

function detailView(ctx: ConsoleCtx, b: BrokerRow, partners: PartnerOption[]): SafeHtml {
  const base = brokerUrl(b.bizEntityKey);
  return html`${card(html`${backLink(`${CONSOLE}/brokers`, 'Brokers')}
      <h1>${b.name}</h1>
      ${facts([
        ['bizEntityKey', html`<span class="mono">${b.bizEntityKey}</span>`],
        ['Status', statusTag(b.status)],
        ['Sharing', b.sharingMode === 'PARTIAL' ? 'partial' : 'standard'],
        ['Connect partner', b.connectPartnerCode ? html`<span class="mono">${b.connectPartnerCode}</span>` : 'none'],
        ['Questionnaires', b.questionnaireVersions.join(', ') || 'none'],
        ['Main accounts', b.mainAccountIds.join(', ') || 'any'],
        ['Sub-accounts per customer', b.maxSubAccountsPerUser],
      ])}`)}
    ${card(html`<h2>Settings</h2>
      <form method="post" action="${base}/settings" id="broker-settings">${csrfField(ctx)}
        <label class="choice"><input type="checkbox" name="partialSharing"${checkedAttr(
          b.sharingMode === 'PARTIAL',
        )}> ${partialLabel}</label>
        <label for="ipWhitelist">IP whitelist (one per line; empty: any address)</label>
        <textarea id="ipWhitelist" name="ipWhitelist" rows="3">${listText(b.ipWhitelist)}</textarea>
        ${partnerSelect(partners, b.connectPartnerCode)}
        <button class="btn" type="submit">Save</button></form>`)}
    ${card(html`<h2>Secret</h2>
      <p class="muted">Rotating makes a new secret (shown once, on the next page); the current one stops working at
      once.</p>
      ${actionButton(ctx, `${base}/rotate-secret`, 'Rotate secret', true, 'Rotate? The current secret stops working.')}`)}`;
}

const partnerOptions = (body: unknown): PartnerOption[] =>
  Array.isArray(body) ? body.map((p: PartnerOption) => ({ merchantCode: p.merchantCode, name: p.name })) : [];

export const brokersSection: ConsoleSection = (pages) => {
  pages.get('/brokers', async (_req, reply, ctx) => {
    const [brokers, partners] = await Promise.all([
      pages.api(ctx, 'GET', '/admin/v1/brokers'),
      pages.api(ctx, 'GET', '/admin/v1/partners'),
    ]);
    return pages.frame(
      reply,
      'Brokers',
      listView(ctx, brokers.ok ? brokers.body : [], partnerOptions(partners.body)),
      ctx,
    );
  });

  // The secret is on this answer only: rendered from the POST, never in a flash cookie.
  pages.postForm('/brokers', CreateForm, async (_req, reply, ctx, form) => {
    const partner = form.partner?.trim();
    const res = await pages.api(ctx, 'POST', '/admin/v1/brokers', {
      name: form.name?.trim() ?? '',
      partialSharing: ticked(form.partialSharing),
      ipWhitelist: listField(form.ipWhitelist),
      ...(partner ? { connectPartnerCode: partner } : {}),
    });
    if (!res.ok) return pages.redirect(reply, `${CONSOLE}/brokers`, { error: `Not created: ${res.message}` });
    const b = res.body as BrokerRow & { secret: string };
    return pages.frame(
      reply,
      'Broker created',
      secretOnceView({
        title: `Broker ${b.name} created`,
        intro: `Broker ${b.name} created. It signs its KYC Sharing requests with this key and secret.`,
        rows: [['bizEntityKey', b.bizEntityKey]],
        secretLabel: 'Secret',
        secret: b.secret,
        back: { href: brokerUrl(b.bizEntityKey), label: 'Open the broker' },
      }),
      ctx,
      201,
    );
  });

  pages.get('/brokers/:key', async (req, reply, ctx) => {
    const key = (req.params as { key: string }).key;
    if (!KEY.test(key)) return pages.notFound(reply, ctx);
    const [broker, partners] = await Promise.all([
      pages.api(ctx, 'GET', `/admin/v1/brokers/${key}`),
      pages.api(ctx, 'GET', '/admin/v1/partners'),
    ]);
    if (!broker.ok) return pages.notFound(reply, ctx);
    const b = broker.body as BrokerRow;
    return pages.frame(reply, `Broker ${b.name}`, detailView(ctx, b, partnerOptions(partners.body)), ctx);
  });

  pages.postForm('/brokers/:key/settings', SettingsForm, async (req, reply, ctx, form) => {
    const key = (req.params as { key: string }).key;
    if (!KEY.test(key)) return pages.notFound(reply, ctx);
    const partner = form.partner?.trim();
    const res = await pages.api(ctx, 'PATCH', `/admin/v1/brokers/${key}`, {
      partialSharing: ticked(form.partialSharing),
      ipWhitelist: listField(form.ipWhitelist),
      connectPartnerCode: partner ? partner : null,
    });
    if (!res.ok) return pages.redirect(reply, brokerUrl(key), { error: `Not saved: ${res.message}` });
    return pages.redirect(reply, brokerUrl(key), { ok: 'Broker settings saved.' });
  });

  // The new secret is on this answer only (see /brokers).
  pages.post('/brokers/:key/rotate-secret', async (req, reply, ctx) => {
    const key = (req.params as { key: string }).key;
    if (!KEY.test(key)) return pages.notFound(reply, ctx);
    const res = await pages.api(ctx, 'POST', `/admin/v1/brokers/${key}/secret`);
    if (!res.ok) return pages.redirect(reply, brokerUrl(key), { error: `Not rotated: ${res.message}` });
    return pages.frame(
      reply,
      'Secret rotated',
      secretOnceView({
        title: 'Secret rotated',
        intro: 'A new secret for this broker; the previous one no longer works.',
        rows: [['bizEntityKey', key]],
        secretLabel: 'New secret',
        secret: (res.body as { secret: string }).secret,
        back: { href: brokerUrl(key), label: 'Back to the broker' },
      }),
      ctx,
    );
  });
};
