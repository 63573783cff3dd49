import type { z } from 'zod';
import { html, type SafeHtml } from '../../web/html.ts';
import type { ConsolePages } from './routes.ts';
import { CONSOLE, card, facts, type ConsoleCtx } from './views.ts';

/**
 * Pieces shared by the console's account sections (merchants, partners, brokers): list fields typed into a textarea,
 * the one-time secret page, and the small markup helpers the three use alike.
 */

/** A list typed one per line (or separated by commas or spaces), empty entries dropped. */
export const listField = (v: string | undefined): string[] =>
  (v ?? '')
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** A checkbox's form value ('on' when ticked; absent otherwise). */
export const ticked = (v: string | undefined) => v === 'on' || v === 'true' || v === '1';

export const checkedAttr = (on: boolean) => (on ? html` checked` : '');
export const selectedAttr = (on: boolean) => (on ? html` selected` : '');

export const statusTag = (status: string) =>
  html`<span class="tag nowrap ${status === 'ACTIVE' ? 'ok' : 'wait'}">${status === 'ACTIVE' ? 'Active' : 'Suspended'}</span>`;

/** A list as text for a textarea (one per line). */
export const listText = (list: string[] | null | undefined) => (list ?? []).join('\n');

/**
 * The page that shows a secret once (a new API key, a broker's rotated secret): rendered straight from the POST that
 * made it, never carried in a cookie or stored anywhere the console can read it again.
 */
export function secretOnceView(v: {
  title: string;
  intro: string;
  rows: [string, string][];
  secretLabel: string;
  secret: string;
  back: { href: string; label: string };
}): SafeHtml {
  return card(html`<h1>${v.title}</h1>
    <div class="flash" id="flash">${v.intro}</div>
    ${facts(v.rows.map(([k, val]) => [k, html`<span class="mono">${val}</span>`]))}
    <label for="secret">${v.secretLabel}</label>
    <textarea id="secret" readonly rows="3" class="mono">${v.secret}</textarea>
    <p class="error"><strong>Shown once.</strong> Copy it now: it is stored encrypted or hashed and this page is the only
    time it is shown. The form behind it is good once: reloading does not create another one.</p>
    <p><a href="${v.back.href}">${v.back.label}</a></p>`);
}

export const backLink = (href: string, label: string) => html`<p><a href="${href}">← ${label}</a></p>`;
export const consoleUrl = (path: string) => `${CONSOLE}${path}`;

/**
 * The POST actions on one account's page (a merchant's, a partner's), registered alike so that every button there
 * behaves the same: the id in the path checked against its pattern (anything else is a 404, the API never called),
 * the admin API called, the outcome flashed on the account's page. A call may answer a string instead: a mistake in
 * the form found before calling the API, flashed as the error.
 */
export function accountActions(
  pages: ConsolePages,
  account: { route: string; param: string; pattern: RegExp; url: (id: string) => string },
) {
  return function action<S extends z.ZodType>(
    path: string,
    schema: S,
    call: (id: string, form: z.output<S>, ctx: ConsoleCtx) => Promise<{ ok: boolean; message: string } | string>,
    done: string,
  ) {
    pages.postForm(`${account.route}/:${account.param}${path}`, schema, async (req, reply, ctx, form) => {
      const id = (req.params as Record<string, string>)[account.param] ?? '';
      if (!account.pattern.test(id)) return pages.notFound(reply, ctx);
      const res = await call(id, form, ctx);
      if (typeof res === 'string') return pages.redirect(reply, account.url(id), { error: res });
      if (!res.ok) return pages.redirect(reply, account.url(id), { error: `Not done: ${res.message}` });
      return pages.redirect(reply, account.url(id), { ok: done });
    });
  };
}
