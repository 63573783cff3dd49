import { z } from 'zod';
import { displayAmount } from '../../web/amount.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { formList, formText } from '../../web/page.ts';
import { FEATURE_FLAGS, KEY_PERMISSIONS } from '../../pay/features.ts';
import type { ConsoleSection } from './routes.ts';
import { CONSOLE, actionButton, card, csrfField, facts, table, time, type ConsoleCtx } from './views.ts';
import {
  accountActions,
  backLink,
  checkedAttr,
  listField,
  listText,
  secretOnceView,
  statusTag,
  ticked,
} from './merchants-shared.ts';

/**
 * The console's merchant pages: the list with a search by name or id, creating a merchant (with its first API key,
 * whose secret is shown once, and optionally a dashboard user invited by e-mail), and a merchant's page: API keys
 * (create with permissions, shown once; revoke), IP whitelist and webhook URL, TSP settings, feature flags, payout fee
 * per asset, suspend / reactivate. Every change is a call of the admin API (/admin/v1/merchants...).
 */
const ID = /^\d{1,19}$/;
const TSP_SCOPES = ['CONVERT', 'REFUND', 'CHECKOUT', 'PAYOUT', 'REPORT', 'INTERNAL_TRANSFER', 'BALANCE'] as const;

const CreateForm = z.object({ name: formText, webhookUrl: formText, ipWhitelist: formText, email: formText });
const KeyForm = z.object({ ipWhitelist: formText, permissions: formList });
const RevokeForm = z.object({ apiKey: formText });
const SettingsForm = z.object({ webhookUrl: formText, ipWhitelist: formText });
const TspForm = z.object({ isTsp: formText, allowScopes: formList, allowFeeShare: formText });
const FeatureForm = z.object({ flag: formText, value: formText });
const PayoutFeeForm = z.object({ asset: formText, fee: formText, remove: formText });

interface MerchantRow {
  merchantId: string;
  merchantName: string;
  status: string;
  webhookUrl: string | null;
  tsp: { allowScopes: string[]; allowFeeShare: boolean } | null;
}
interface MerchantDetail extends MerchantRow {
  features: Record<string, boolean>;
  featureOverrides: Record<string, boolean>;
  payoutFee: Record<string, string>;
  createdAt: number;
  keys: {
    apiKey: string;
    ipWhitelist: string[];
    permissions: string[] | null;
    status: string;
    createdAt: number;
  }[];
  balances: { asset: string; posted: string; held: string; available: string }[];
}

const merchantUrl = (id: string) => `${CONSOLE}/merchants/${id}`;

function listView(ctx: ConsoleCtx, rows: MerchantRow[], q: string): SafeHtml {
  return html`${card(html`<h1>Merchants</h1>
      <form method="get" action="${CONSOLE}/merchants" class="filters" role="search">
        <label for="q">Search by name or merchant id</label><input id="q" name="q" type="search" value="${q}"
        maxlength="128"><button class="btn secondary" type="submit">Search</button></form>
      ${table(
        ['Merchant', 'Name', 'Status', 'Webhook URL', 'TSP'],
        rows.map((m) => [
          html`<a class="mono" href="${merchantUrl(m.merchantId)}">${m.merchantId}</a>`,
          m.merchantName,
          statusTag(m.status),
          m.webhookUrl ? html`<span class="mono">${m.webhookUrl}</span>` : '—',
          m.tsp ? 'Yes' : 'No',
        ]),
        q ? 'No merchant matches.' : 'No merchants yet.',
      )}`)}
    ${card(html`<h2>Create a merchant</h2>
      <p class="muted">The merchant gets a first API key (its secret is shown once, on the next page). With an e-mail,
      a dashboard user is invited: a link to set a password is mailed to it.</p>
      <form method="post" action="${CONSOLE}/merchants" id="create-merchant">${csrfField(ctx)}
        <label for="name">Name</label><input id="name" name="name" type="text" maxlength="128" required>
        <label for="webhookUrl">Webhook URL (optional)</label><input id="webhookUrl" name="webhookUrl" type="url"
        maxlength="256" placeholder="https://shop.example/binance-pay/webhook">
        <label for="ipWhitelist">IP whitelist of the first key (optional: one address or CIDR range per line)</label>
        <textarea id="ipWhitelist" name="ipWhitelist" rows="2" placeholder="203.0.113.7"></textarea>
        <label for="email">Dashboard user e-mail (optional)</label><input id="email" name="email" type="email"
        maxlength="254">
        <button class="btn" type="submit">Create merchant</button></form>`)}`;
}

function detailView(ctx: ConsoleCtx, m: MerchantDetail): SafeHtml {
  const base = merchantUrl(m.merchantId);
  const active = m.keys.filter((k) => k.status === 'ACTIVE');
  const suspended = m.status !== 'ACTIVE';
  const scopes = new Set(m.tsp?.allowScopes ?? []);
  const fees = Object.entries(m.payoutFee);
  return html`${card(html`${backLink(`${CONSOLE}/merchants`, 'Merchants')}
      <h1>${m.merchantName}</h1>
      ${facts([
        ['Merchant id', html`<span class="mono">${m.merchantId}</span>`],
        ['Status', statusTag(m.status)],
        ['Created', time(m.createdAt)],
        ['Webhook URL', m.webhookUrl ? html`<span class="mono">${m.webhookUrl}</span>` : 'none'],
        ['Technical service provider', m.tsp ? `yes (${m.tsp.allowScopes.join(', ') || 'no scopes'})` : 'no'],
      ])}
      <div class="actions">${
        suspended
          ? actionButton(ctx, `${base}/reactivate`, 'Reactivate')
          : actionButton(
              ctx,
              `${base}/suspend`,
              'Suspend',
              true,
              'Suspend this merchant? Its API requests and dashboard log-in will be refused.',
            )
      }</div>
      <p class="muted small">${
        suspended
          ? 'Suspended: its signed API requests are refused (400606) and its dashboard users cannot log in.'
          : 'Suspending refuses its signed API requests (400606) and its dashboard log-in; its keys stay as they are.'
      }</p>`)}
    ${card(
      html`<h2>Balances</h2>${table(
        ['Asset', 'Available', 'Held', 'Total'],
        m.balances.map((b) => [
          b.asset,
          displayAmount(b.available, b.asset),
          displayAmount(b.held, b.asset),
          displayAmount(b.posted, b.asset),
        ]),
        'No balances yet.',
      )}`,
    )}
    ${card(html`<h2>API keys</h2>${table(
      ['API key', 'Status', 'Permissions', 'IP whitelist', 'Created', ''],
      m.keys.map((k) => [
        html`<span class="mono">${k.apiKey}</span>`,
        k.status === 'ACTIVE'
          ? html`<span class="tag ok nowrap">Active</span>`
          : html`<span class="tag plain nowrap">Revoked</span>`,
        k.permissions === null ? "mode's default" : k.permissions.join(', ') || 'none',
        k.ipWhitelist.length ? html`<span class="mono">${k.ipWhitelist.join(', ')}</span>` : 'any address',
        time(k.createdAt),
        k.status === 'ACTIVE'
          ? html`<form class="inline" method="post" action="${base}/keys/revoke">${csrfField(ctx)}<input type="hidden"
              name="apiKey" value="${k.apiKey}"><button class="btn secondary nowrap"
              type="submit" data-confirm="Revoke this key? Requests signed with it are refused at once.">Revoke</button></form>`
          : '',
      ]),
      'No keys.',
    )}
      <h2>Create an API key</h2>
      <p class="muted">The secret is shown once, on the next page.</p>
      <form method="post" action="${base}/keys" id="create-key">${csrfField(ctx)}
        ${KEY_PERMISSIONS.map(
          (p) => html`<label class="choice"><input type="checkbox" name="permissions" value="${p}"> Permission ${p}
            (without: the mode's default)</label>`,
        )}
        <label for="key-ips">IP whitelist (optional: one address or CIDR range per line)</label>
        <textarea id="key-ips" name="ipWhitelist" rows="2"></textarea>
        <button class="btn" type="submit">Create API key</button></form>`)}
    ${card(html`<h2>Webhook URL and IP whitelist</h2>
      <form method="post" action="${base}/settings" id="settings">${csrfField(ctx)}
        <label for="webhookUrl">Webhook URL (empty: none)</label><input id="webhookUrl" name="webhookUrl" type="url"
        maxlength="256" value="${m.webhookUrl ?? ''}">
        <label for="ipWhitelist">IP whitelist of every active key (one per line; empty: any address)</label>
        <textarea id="ipWhitelist" name="ipWhitelist" rows="3">${listText(active[0]?.ipWhitelist)}</textarea>
        <button class="btn" type="submit">Save</button></form>`)}
    ${card(html`<h2>Technical service provider</h2>
      <form method="post" action="${base}/tsp" id="tsp">${csrfField(ctx)}
        <label class="choice"><input type="checkbox" name="isTsp"${checkedAttr(m.tsp !== null)}> This merchant is a
        technical service provider</label>
        <p class="muted small">Scopes it may ask merchants to authorize:</p>
        <div class="grid2">${TSP_SCOPES.map(
          (s) =>
            html`<label class="choice"><input type="checkbox" name="allowScopes" value="${s}"${checkedAttr(
              scopes.has(s),
            )}> ${s}</label>`,
        )}</div>
        <label class="choice"><input type="checkbox" name="allowFeeShare"${checkedAttr(
          m.tsp?.allowFeeShare === true,
        )}> May take a fee share</label>
        <button class="btn" type="submit">Save TSP settings</button></form>`)}
    ${card(html`<h2>Feature flags</h2>
      <p class="muted">A flag without an override takes this mode's default.</p>
      ${FEATURE_FLAGS.map((f) => {
        const overridden = f in m.featureOverrides;
        const button = (value: string, label: string) =>
          html`<form class="inline" method="post" action="${base}/features">${csrfField(ctx)}<input type="hidden"
            name="flag" value="${f}"><input type="hidden" name="value" value="${value}"><button class="btn secondary
            nowrap" type="submit">${label}</button></form>`;
        return html`<div class="row" id="flag-${f}"><span><span class="mono">${f}</span><br>${
          m.features[f] ? html`<span class="ok">on</span>` : html`<span class="bad">off</span>`
        } <span class="muted small">· ${overridden ? 'set by the operator' : "the mode's default"}</span></span>
          <span class="actions">${m.features[f] ? button('off', 'Disable') : button('on', 'Enable')}${
            overridden ? button('default', 'Reset to default') : ''
          }</span></div>`;
      })}`)}
    ${card(html`<h2>Payout fee per asset</h2>
      ${table(
        ['Asset', 'Fee per payout', ''],
        fees.map(([asset, fee]) => [
          asset,
          displayAmount(fee, asset),
          html`<form class="inline" method="post" action="${base}/payout-fee">${csrfField(ctx)}<input type="hidden"
            name="asset" value="${asset}"><input type="hidden" name="remove" value="1"><button class="btn secondary"
            type="submit">Remove</button></form>`,
        ]),
        'No payout fee: payouts cost nothing.',
      )}
      <form method="post" action="${base}/payout-fee" id="payout-fee">${csrfField(ctx)}
        <div class="grid2"><div><label for="fee-asset">Asset</label><input id="fee-asset" name="asset" type="text"
        maxlength="10" placeholder="USDT" required></div>
        <div><label for="fee">Fee</label><input id="fee" name="fee" type="text" inputmode="decimal" maxlength="29"
        placeholder="0.5" required></div></div>
        <button class="btn" type="submit">Set fee</button></form>`)}`;
}

export const merchantsSection: ConsoleSection = (pages) => {
  pages.get('/merchants', async (req, reply, ctx) => {
    const q = String((req.query as Record<string, unknown>).q ?? '').slice(0, 128);
    const res = await pages.api(ctx, 'GET', `/admin/v1/merchants${q ? `?q=${encodeURIComponent(q)}` : ''}`);
    return pages.frame(reply, 'Merchants', listView(ctx, res.ok ? res.body : [], q), ctx);
  });

  // The first key's secret is on this answer only: rendered from the POST, never in a flash cookie.
  pages.postForm('/merchants', CreateForm, async (_req, reply, ctx, form) => {
    const webhookUrl = form.webhookUrl?.trim();
    const email = form.email?.trim();
    const res = await pages.api(ctx, 'POST', '/admin/v1/merchants', {
      name: form.name?.trim() ?? '',
      ...(webhookUrl ? { webhookUrl } : {}),
      ipWhitelist: listField(form.ipWhitelist),
      ...(email ? { email } : {}),
    });
    if (!res.ok) return pages.redirect(reply, `${CONSOLE}/merchants`, { error: `Not created: ${res.message}` });
    const made = res.body as { merchantId: string; merchantName: string; apiKey: string; apiSecret: string };
    const invited = (res.body as { dashboardUser?: { email: string } }).dashboardUser?.email;
    return pages.frame(
      reply,
      'Merchant created',
      secretOnceView({
        title: `Merchant ${made.merchantName} created`,
        intro: `Merchant ${made.merchantId} created with its first API key.${
          invited ? ` A link to set the dashboard password was mailed to ${invited}.` : ''
        }`,
        rows: [
          ['Merchant id', made.merchantId],
          ['API key', made.apiKey],
        ],
        secretLabel: 'API secret',
        secret: made.apiSecret,
        back: { href: merchantUrl(made.merchantId), label: 'Open the merchant' },
      }),
      ctx,
      201,
    );
  });

  pages.get('/merchants/:id', async (req, reply, ctx) => {
    const id = (req.params as { id: string }).id;
    if (!ID.test(id)) return pages.notFound(reply, ctx);
    const res = await pages.api(ctx, 'GET', `/admin/v1/merchants/${id}`);
    if (!res.ok) return pages.notFound(reply, ctx);
    const m = res.body as MerchantDetail;
    return pages.frame(reply, `Merchant ${m.merchantName}`, detailView(ctx, m), ctx);
  });

  const merchantAction = accountActions(pages, { route: '/merchants', param: 'id', pattern: ID, url: merchantUrl });

  // A new key's secret is on this answer only (see /merchants).
  pages.postForm('/merchants/:id/keys', KeyForm, async (req, reply, ctx, form) => {
    const id = (req.params as { id: string }).id;
    if (!ID.test(id)) return pages.notFound(reply, ctx);
    const res = await pages.api(ctx, 'POST', `/admin/v1/merchants/${id}/keys`, {
      ipWhitelist: listField(form.ipWhitelist),
      ...(form.permissions.length ? { permissions: form.permissions } : {}),
    });
    if (!res.ok) return pages.redirect(reply, merchantUrl(id), { error: `No key created: ${res.message}` });
    const made = res.body as { merchantId: string; merchantName: string; apiKey: string; apiSecret: string };
    return pages.frame(
      reply,
      'API key created',
      secretOnceView({
        title: 'API key created',
        intro: `A new API key for ${made.merchantName}.`,
        rows: [
          ['Merchant id', made.merchantId],
          ['API key', made.apiKey],
        ],
        secretLabel: 'API secret',
        secret: made.apiSecret,
        back: { href: merchantUrl(id), label: 'Back to the merchant' },
      }),
      ctx,
      201,
    );
  });

  merchantAction(
    '/keys/revoke',
    RevokeForm,
    (id, f, ctx) =>
      f.apiKey
        ? pages.api(ctx, 'DELETE', `/admin/v1/merchants/${id}/keys/${encodeURIComponent(f.apiKey)}`)
        : Promise.resolve('Choose a key to revoke.'),
    'API key revoked: requests signed with it are refused.',
  );

  merchantAction(
    '/settings',
    SettingsForm,
    (id, f, ctx) =>
      pages.api(ctx, 'PATCH', `/admin/v1/merchants/${id}`, {
        webhookUrl: f.webhookUrl?.trim() ? f.webhookUrl.trim() : null,
        ipWhitelist: listField(f.ipWhitelist),
      }),
    'Webhook URL and IP whitelist saved.',
  );

  merchantAction(
    '/tsp',
    TspForm,
    (id, f, ctx) =>
      pages.api(ctx, 'PATCH', `/admin/v1/merchants/${id}`, {
        tsp: ticked(f.isTsp) ? { allowScopes: f.allowScopes, allowFeeShare: ticked(f.allowFeeShare) } : null,
      }),
    'TSP settings saved.',
  );

  merchantAction(
    '/features',
    FeatureForm,
    async (id, f, ctx) => {
      if (!f.flag || !(FEATURE_FLAGS as string[]).includes(f.flag)) return 'Unknown feature flag.';
      const value = f.value === 'on' ? true : f.value === 'off' ? false : f.value === 'default' ? null : undefined;
      if (value === undefined) return 'Choose enable, disable or reset.';
      return pages.api(ctx, 'PATCH', `/admin/v1/merchants/${id}`, { features: { [f.flag]: value } });
    },
    'Feature flag saved.',
  );

  merchantAction(
    '/payout-fee',
    PayoutFeeForm,
    async (id, f, ctx) => {
      const asset = (f.asset ?? '').trim().toUpperCase();
      if (!asset) return 'Give the asset.';
      const fee = ticked(f.remove) || f.remove === '1' ? null : (f.fee ?? '').trim();
      return pages.api(ctx, 'PATCH', `/admin/v1/merchants/${id}`, { payoutFee: { [asset]: fee } });
    },
    'Payout fee saved.',
  );

  merchantAction(
    '/suspend',
    z.object({}),
    (id, _f, ctx) => pages.api(ctx, 'POST', `/admin/v1/merchants/${id}/suspend`),
    'Merchant suspended: its API requests and dashboard log-in are refused.',
  );
  merchantAction(
    '/reactivate',
    z.object({}),
    (id, _f, ctx) => pages.api(ctx, 'POST', `/admin/v1/merchants/${id}/reactivate`),
    'Merchant reactivated.',
  );
};
