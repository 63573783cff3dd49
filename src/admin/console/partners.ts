import { z } from 'zod';
import { Decimal } from '../../platform/money.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { formList, formText } from '../../web/page.ts';
import { CUSTOMIZATION_KEYS } from '../../connect/partners.ts';
import { BASE as DASHBOARD_BASE } from '../../dashboard/views.ts';
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
} from './merchants-shared.ts';

/**
 * The console's Connect partner pages: the list, onboarding (name, e-mail, the partner's RSA public key uploaded as a
 * file or pasted, IP whitelist, redirect domains, webhook URL), and a partner's page: its keys, IPs, redirect domains,
 * webhook URL, fees, suspend / reactivate, and a new portal password link. Generation 2 (binance-connect-v2.md §7,
 * §13): the client id, whether a sign access token is set and a new one issued (shown once), the customization flags
 * enabled and the deep-link app schemes. Every change is a call of the admin API (/admin/v1/partners...).
 */
const CODE = /^[a-z0-9_]{1,64}$/;
// The dashboard's generic script: a file input with data-fill="<textarea id>" loads the chosen text file into the
// textarea, so the PEM travels as an ordinary form field (without script, paste it).
const FILL_SCRIPT = `${DASHBOARD_BASE}/assets/dashboard.js`;

const OnboardForm = z.object({
  name: formText,
  email: formText,
  publicKeyPem: formText,
  ipWhitelist: formText,
  redirectDomains: formText,
  webhookUrl: formText,
});
const SettingsForm = z.object({ ipWhitelist: formText, redirectDomains: formText, webhookUrl: formText });
const FeesForm = z.object({ feePct: formText, minFeeUsd: formText, spread: formText });
const Gen2Form = z.object({ customizationFlags: formList, deepLinkSchemes: formText });

interface PartnerRow {
  merchantCode: string;
  name: string;
  email: string;
  status: 'ACTIVE' | 'DISABLED';
  ipWhitelist: string[];
  redirectDomains: string[];
  webhookUrl: string | null;
  successCode: string;
  feePct: string;
  minFeeUsd: string;
  spread: string;
  portalPasswordSet: boolean;
  clientId: string;
  hasSignToken: boolean;
  customizationFlags: string[];
  deepLinkSchemes: string[];
}
interface PartnerDetail extends PartnerRow {
  keys: { id: string; fingerprint: string; bits: number; createdAt: number; expiresAt: number | null }[];
}

const partnerUrl = (code: string) => `${CONSOLE}/partners/${code}`;
/** A fee fraction as a percentage (decimal arithmetic: 0.0199 → 1.99 %). */
const percent = (fraction: string) => `${new Decimal(fraction).times(100).toFixed()} %`;

function listView(ctx: ConsoleCtx, rows: PartnerRow[]): SafeHtml {
  return html`${card(html`<h1>Connect partners</h1>
      ${table(
        ['Partner', 'Name', 'E-mail', 'Status', 'Allowed IPs', 'Portal'],
        rows.map((p) => [
          html`<a class="mono" href="${partnerUrl(p.merchantCode)}">${p.merchantCode}</a>`,
          p.name,
          p.email,
          statusTag(p.status),
          html`<span class="mono">${p.ipWhitelist.join(', ')}</span>`,
          p.portalPasswordSet ? 'password set' : 'invited',
        ]),
        'No partners yet.',
      )}`)}
    ${card(html`<h2>Onboard a partner</h2>
      <p class="muted">The partner signs its requests with an RSA key; give its public key (PEM). A link to set the
      partner portal password is mailed to the e-mail address.</p>
      <form method="post" action="${CONSOLE}/partners" id="onboard-partner">${csrfField(ctx)}
        <label for="name">Name</label><input id="name" name="name" type="text" maxlength="128" required>
        <label for="email">Administrator e-mail</label><input id="email" name="email" type="email" maxlength="320"
        required>
        <label for="pem-file">Public key file (.pem)</label><input id="pem-file" type="file"
        accept=".pem,.pub,.key,.txt,application/x-pem-file,text/plain" data-fill="publicKeyPem">
        <label for="publicKeyPem">Public key (PEM), filled from the file or pasted</label>
        <textarea id="publicKeyPem" name="publicKeyPem" rows="6" required
        placeholder="-----BEGIN PUBLIC KEY-----"></textarea>
        <label for="ipWhitelist">IP whitelist (at least one address or CIDR range, one per line)</label>
        <textarea id="ipWhitelist" name="ipWhitelist" rows="2" required placeholder="203.0.113.7"></textarea>
        <label for="redirectDomains">Redirect domains (optional, one per line, e.g. wallet.example)</label>
        <textarea id="redirectDomains" name="redirectDomains" rows="2"></textarea>
        <label for="webhookUrl">Webhook URL (optional)</label><input id="webhookUrl" name="webhookUrl" type="url"
        maxlength="512">
        <button class="btn" type="submit">Onboard partner</button></form>
      <script src="${FILL_SCRIPT}" defer></script>`)}`;
}

function detailView(ctx: ConsoleCtx, p: PartnerDetail): SafeHtml {
  const base = partnerUrl(p.merchantCode);
  const suspended = p.status !== 'ACTIVE';
  return html`${card(html`${backLink(`${CONSOLE}/partners`, 'Partners')}
      <h1>${p.name}</h1>
      ${facts([
        ['Partner code (merchantCode, generation 1)', html`<span class="mono">${p.merchantCode}</span>`],
        ['Client id (X-Tesla-ClientId, generation 2)', html`<span class="mono" id="client-id">${p.clientId}</span>`],
        [
          'Sign access token (generation 2)',
          html`<span id="sign-token-state">${p.hasSignToken ? 'set' : 'not set'}</span>`,
        ],
        ['Status', statusTag(p.status)],
        ['Administrator e-mail', p.email],
        ['Portal password', p.portalPasswordSet ? 'set' : 'not set yet (invited)'],
        ['Success code', html`<span class="mono">${p.successCode}</span>`],
      ])}
      <div class="actions">${
        suspended
          ? actionButton(ctx, `${base}/reactivate`, 'Reactivate')
          : actionButton(
              ctx,
              `${base}/suspend`,
              'Suspend',
              true,
              'Suspend this partner? Its API requests and portal log-in will be refused.',
            )
      }${actionButton(ctx, `${base}/password-link`, 'Send a portal password link', true)}${actionButton(
        ctx,
        `${base}/sign-token`,
        'Issue sign access token',
        true,
        'Issue a new sign access token? The current one stops working at once.',
      )}</div>
      <p class="muted small">${
        suspended
          ? 'Suspended: its signed requests and its portal log-in are refused.'
          : 'Suspending refuses its signed requests and its portal log-in.'
      }</p>`)}
    ${card(
      html`<h2>Public keys</h2>${table(
        ['Key', 'Fingerprint', 'Bits', 'Added', 'Expires'],
        p.keys.map((k) => [
          html`<span class="mono">${k.id}</span>`,
          html`<span class="mono">${k.fingerprint}</span>`,
          k.bits,
          time(k.createdAt),
          k.expiresAt === null ? 'never' : time(k.expiresAt),
        ]),
        'No keys.',
      )}`,
    )}
    ${card(html`<h2>IPs, redirect domains, webhook URL</h2>
      <form method="post" action="${base}/settings" id="partner-settings">${csrfField(ctx)}
        <label for="ipWhitelist">IP whitelist (one per line, at least one)</label>
        <textarea id="ipWhitelist" name="ipWhitelist" rows="3" required>${listText(p.ipWhitelist)}</textarea>
        <label for="redirectDomains">Redirect domains (one per line)</label>
        <textarea id="redirectDomains" name="redirectDomains" rows="2">${listText(p.redirectDomains)}</textarea>
        <label for="webhookUrl">Webhook URL (empty: none)</label><input id="webhookUrl" name="webhookUrl" type="url"
        maxlength="512" value="${p.webhookUrl ?? ''}">
        <button class="btn" type="submit">Save</button></form>`)}
    ${card(html`<h2>Fees</h2>
      ${facts([
        ['Fee', `${percent(p.feePct)} of the fiat amount`],
        ['Minimum fee', `${p.minFeeUsd} USD`],
        ['Quote spread', percent(p.spread)],
      ])}
      <form method="post" action="${base}/fees" id="partner-fees">${csrfField(ctx)}
        <div class="grid2"><div><label for="feePct">Fee (fraction, e.g. 0.0199 = 1.99 %)</label><input id="feePct"
        name="feePct" type="text" inputmode="decimal" maxlength="16" value="${p.feePct}" required></div>
        <div><label for="minFeeUsd">Minimum fee (USD)</label><input id="minFeeUsd" name="minFeeUsd" type="text"
        inputmode="decimal" maxlength="16" value="${p.minFeeUsd}" required></div>
        <div><label for="spread">Quote spread (fraction)</label><input id="spread" name="spread" type="text"
        inputmode="decimal" maxlength="16" value="${p.spread}" required></div></div>
        <button class="btn" type="submit">Save fees</button></form>`)}
    ${card(html`<h2>Generation 2: customization and deep links</h2>
      <form method="post" action="${base}/gen2" id="partner-gen2">${csrfField(ctx)}
        <p class="muted small">Customization flags a pre-order may use (binance-connect-v2.md §7); others are
        ignored:</p>
        <div class="grid2">${CUSTOMIZATION_KEYS.map(
          (k) =>
            html`<label class="choice"><input type="checkbox" name="customizationFlags" value="${k}"${checkedAttr(
              p.customizationFlags.includes(k),
            )}> <span class="mono">${k}</span></label>`,
        )}</div>
        <label for="deepLinkSchemes">Deep-link app schemes (one per line, e.g. mywallet)</label>
        <textarea id="deepLinkSchemes" name="deepLinkSchemes" rows="2">${listText(p.deepLinkSchemes)}</textarea>
        <button class="btn" type="submit">Save generation 2 settings</button></form>`)}`;
}

export const partnersSection: ConsoleSection = (pages) => {
  pages.get('/partners', async (_req, reply, ctx) => {
    const res = await pages.api(ctx, 'GET', '/admin/v1/partners');
    return pages.frame(reply, 'Partners', listView(ctx, res.ok ? res.body : []), ctx);
  });

  pages.postForm('/partners', OnboardForm, async (_req, reply, ctx, form) => {
    const webhookUrl = form.webhookUrl?.trim();
    const redirectDomains = listField(form.redirectDomains);
    const res = await pages.api(ctx, 'POST', '/admin/v1/partners', {
      name: form.name?.trim() ?? '',
      email: form.email?.trim() ?? '',
      publicKeyPem: (form.publicKeyPem ?? '').trim(),
      ipWhitelist: listField(form.ipWhitelist),
      ...(redirectDomains.length ? { redirectDomains } : {}),
      ...(webhookUrl ? { webhookUrl } : {}),
    });
    if (!res.ok) return pages.redirect(reply, `${CONSOLE}/partners`, { error: `Not onboarded: ${res.message}` });
    const p = res.body as PartnerRow;
    return pages.redirect(reply, partnerUrl(p.merchantCode), {
      ok: `Partner ${p.name} onboarded as ${p.merchantCode}; a portal password link was mailed to ${p.email}.`,
    });
  });

  pages.get('/partners/:code', async (req, reply, ctx) => {
    const code = (req.params as { code: string }).code;
    if (!CODE.test(code)) return pages.notFound(reply, ctx);
    const res = await pages.api(ctx, 'GET', `/admin/v1/partners/${code}`);
    if (!res.ok) return pages.notFound(reply, ctx);
    const p = res.body as PartnerDetail;
    return pages.frame(reply, `Partner ${p.name}`, detailView(ctx, p), ctx);
  });

  const partnerAction = accountActions(pages, { route: '/partners', param: 'code', pattern: CODE, url: partnerUrl });

  partnerAction(
    '/settings',
    SettingsForm,
    (code, f, ctx) =>
      pages.api(ctx, 'PATCH', `/admin/v1/partners/${code}`, {
        ipWhitelist: listField(f.ipWhitelist),
        redirectDomains: listField(f.redirectDomains),
        webhookUrl: f.webhookUrl?.trim() ? f.webhookUrl.trim() : null,
      }),
    'IPs, redirect domains and webhook URL saved.',
  );
  partnerAction(
    '/fees',
    FeesForm,
    (code, f, ctx) =>
      pages.api(ctx, 'PATCH', `/admin/v1/partners/${code}`, {
        feePct: (f.feePct ?? '').trim(),
        minFeeUsd: (f.minFeeUsd ?? '').trim(),
        spread: (f.spread ?? '').trim(),
      }),
    'Fees saved.',
  );
  partnerAction(
    '/gen2',
    Gen2Form,
    (code, f, ctx) =>
      pages.api(ctx, 'PATCH', `/admin/v1/partners/${code}`, {
        customizationFlags: f.customizationFlags,
        deepLinkSchemes: listField(f.deepLinkSchemes),
      }),
    'Generation 2 settings saved.',
  );
  // The new token is on this answer only (stored hashed), as a merchant's new API secret is.
  pages.postForm('/partners/:code/sign-token', z.object({}), async (req, reply, ctx) => {
    const code = (req.params as { code: string }).code;
    if (!CODE.test(code)) return pages.notFound(reply, ctx);
    const res = await pages.api(ctx, 'POST', `/admin/v1/partners/${code}/sign-token`);
    if (!res.ok) return pages.redirect(reply, partnerUrl(code), { error: `No token issued: ${res.message}` });
    const made = res.body as { merchantCode: string; signAccessToken: string };
    return pages.frame(
      reply,
      'Sign access token issued',
      secretOnceView({
        title: 'Sign access token issued',
        intro: `A new generation-2 sign access token for ${made.merchantCode}; the previous one no longer works.`,
        rows: [['Partner code', made.merchantCode]],
        secretLabel: 'X-Tesla-SignAccessToken',
        secret: made.signAccessToken,
        back: { href: partnerUrl(code), label: 'Back to the partner' },
      }),
      ctx,
      201,
    );
  });
  partnerAction(
    '/suspend',
    z.object({}),
    (code, _f, ctx) => pages.api(ctx, 'POST', `/admin/v1/partners/${code}/suspend`),
    'Partner suspended: its requests and portal log-in are refused.',
  );
  partnerAction(
    '/reactivate',
    z.object({}),
    (code, _f, ctx) => pages.api(ctx, 'POST', `/admin/v1/partners/${code}/reactivate`),
    'Partner reactivated.',
  );
  partnerAction(
    '/password-link',
    z.object({}),
    (code, _f, ctx) => pages.api(ctx, 'POST', `/admin/v1/partners/${code}/password-link`),
    'A portal password link was mailed to the partner.',
  );
};
