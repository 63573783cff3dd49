import type { FastifyInstance, FastifyRequest } from 'fastify';
import nodemailer from 'nodemailer';
import type { Clock } from './clock.ts';
import type { SecretBox } from './crypto.ts';
import type { Db, Queryable } from './db/client.ts';
import type { IdGenerator } from './ids.ts';
import type { Outbox, OutboxHandler } from './outbox/service.ts';
import { safeEqual, sha256Hex } from './crypto.ts';
import { html, type SafeHtml } from '../web/html.ts';
import { page } from '../web/layout.ts';
import { describeError } from './errors.ts';

/**
 * Mail port: verification codes, password links and notices. A message is recorded and queued in the caller's
 * transaction (so a rolled-back sign-up sends nothing), then sent by the outbox worker: through SMTP when
 * SMTP_URL is set, otherwise into the dev mailbox (sandbox), readable at /dev/mailbox.
 */
export const MAIL_TOPIC = 'mail';

interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  send(q: Queryable, m: MailMessage): Promise<bigint>;
  handler: OutboxHandler;
  /** Messages to an address, newest first (dev mailbox and tests). */
  list(
    to?: string,
    limit?: number,
  ): Promise<{ id: string; to: string; subject: string; text: string; status: string; createdAt: number }[]>;
}

export function createMailer(deps: {
  db: Db;
  outbox: Outbox;
  clock: Clock;
  ids: IdGenerator;
  box: SecretBox;
  smtpUrl?: string;
  from?: string;
}): Mailer {
  const { db, outbox, clock, ids, box } = deps;
  const transport = deps.smtpUrl ? nodemailer.createTransport(deps.smtpUrl) : null;
  const from = deps.from ?? 'Rampart <no-reply@rampart.local>';
  return {
    async send(q, m) {
      const id = ids.next();
      await q.query(
        `INSERT INTO mail_messages (id, to_address, subject, body_sealed, created_at) VALUES ($1, $2, $3, $4, $5)`,
        [id, m.to.toLowerCase(), m.subject, box.seal(m.text), clock.now()],
      );
      await outbox.enqueue(q, { topic: MAIL_TOPIC, payload: { mailId: String(id) } });
      return id;
    },
    handler: async (row) => {
      const msg = (
        await db.query(`SELECT * FROM mail_messages WHERE id = $1`, [(row.payload as { mailId: string }).mailId])
      ).rows[0];
      if (!msg || msg.status !== 'QUEUED') return { status: 'done' };
      if (!transport) {
        await db.query(`UPDATE mail_messages SET status = 'DEV_MAILBOX', sent_at = $2 WHERE id = $1`, [
          msg.id,
          clock.now(),
        ]);
        return { status: 'done' };
      }
      try {
        await transport.sendMail({ from, to: msg.to_address, subject: msg.subject, text: box.open(msg.body_sealed) });
        await db.query(`UPDATE mail_messages SET status = 'SENT', sent_at = $2 WHERE id = $1`, [msg.id, clock.now()]);
        return { status: 'done' };
      } catch (e) {
        const error = describeError(e, 'message');
        if (row.attempts >= 5) {
          await db.query(`UPDATE mail_messages SET status = 'FAILED', last_error = $2 WHERE id = $1`, [msg.id, error]);
          return { status: 'failed', error };
        }
        return { status: 'retry', at: clock.now() + 60_000 * row.attempts, error };
      }
    },
    async list(to, limit = 50) {
      const rows = (
        await db.query(
          `SELECT id, to_address, subject, body_sealed, status, created_at FROM mail_messages WHERE ($1::text IS NULL
            OR to_address = $1) ORDER BY id DESC LIMIT $2`,
          [to?.toLowerCase() ?? null, limit],
        )
      ).rows;
      return rows.map((r) => ({
        id: String(r.id),
        to: r.to_address,
        subject: r.subject,
        text: box.open(r.body_sealed),
        status: r.status,
        createdAt: Number(r.created_at),
      }));
    },
  };
}

/** The mailbox pages' query string (unvalidated: the pages are a sandbox tool behind the operator's login). */
type MailboxQuery = { to?: string };

/** An operator logged in to the console (src/admin/console/session.ts), as far as the mailbox cares. */
interface MailboxOperator {
  role: string;
}

// http(s) URLs in a mail's plain text; what follows a URL as sentence punctuation is left out of the link.
const URL_IN_TEXT = /https?:\/\/[^\s<>"']+/g;
const TRAILING_PUNCTUATION = /[.,;:!?)\]]+$/;

/**
 * A mail's plain text with its http(s) URLs as links: every piece goes through `html`, so the text and the URLs are
 * escaped, and only http(s) URLs (never javascript: or data:) become hrefs.
 */
export function linkifyMailText(text: string): SafeHtml {
  const parts: SafeHtml[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_IN_TEXT)) {
    const url = m[0].replace(TRAILING_PUNCTUATION, '');
    const at = m.index;
    parts.push(html`${text.slice(last, at)}<a href="${url}" rel="noreferrer">${url}</a>`);
    last = at + url.length;
  }
  parts.push(html`${text.slice(last)}`);
  return html`${parts}`;
}

const FOR_ADMINS = html`<div class="card"><h1>Dev mailbox</h1>
  <p class="error" id="mailbox-forbidden">The dev mailbox is for administrators; your console role cannot open it.</p>
  </div>`;

// Long links wrap inside the mail instead of widening the page on a phone.
const MAILBOX_STYLE = html`<style>
  .mail-body{white-space:pre-wrap;overflow-wrap:anywhere;font-family:ui-monospace,monospace;font-size:14px;margin:8px 0 0}
</style>`;

/**
 * The sandbox dev mailbox: an HTML page and JSON. Open to the admin token (bearer header, or ?token= for a link) and
 * to an administrator logged in to the console (`operatorSession`, the console's cookie session), so an operator
 * opens it from a browser without typing a token. Anyone else: a browser is sent to the console's login and back,
 * a JSON client gets 401.
 */
export function registerDevMailbox(
  app: FastifyInstance,
  deps: {
    mailer: Mailer;
    adminToken: string;
    mode: string;
    operatorSession?: (req: FastifyRequest) => Promise<MailboxOperator | null>;
  },
) {
  // The admin API's bearer check (admin-auth.ts), asked as a question: a refusal here may still be a console login.
  const expected = sha256Hex(deps.adminToken);
  const hasAdminToken = (req: FastifyRequest) => {
    const h = req.headers.authorization ?? '';
    return safeEqual(sha256Hex(h.startsWith('Bearer ') ? h.slice(7) : ''), expected);
  };
  app.register(async (r) => {
    r.addHook('onRequest', async (req, reply) => {
      const token = (req.query as { token?: unknown } | undefined)?.token;
      if (typeof token === 'string' && !req.headers.authorization) req.headers.authorization = `Bearer ${token}`;
      if (req.headers.authorization && hasAdminToken(req)) return;
      const operator = deps.operatorSession ? await deps.operatorSession(req) : null;
      if (operator?.role === 'admin') return;
      const wantsPage = !req.url.startsWith('/dev/mailbox.json') && (req.headers.accept ?? '').includes('text/html');
      if (wantsPage && !operator && !req.headers.authorization)
        return reply.redirect(`/admin/login?next=${encodeURIComponent(req.url)}`, 303);
      if (wantsPage && operator)
        return reply
          .code(403)
          .type('text/html; charset=utf-8')
          .send(page({ title: 'Dev mailbox', body: FOR_ADMINS, mode: deps.mode }));
      return reply.code(operator ? 403 : 401).send({
        error: operator
          ? { code: 'FORBIDDEN', message: 'The dev mailbox is for administrators.' }
          : { code: 'UNAUTHORIZED', message: 'Log in to the console, or send the admin bearer token.' },
      });
    });
    r.get('/dev/mailbox.json', { schema: { hide: true } }, async (req) =>
      deps.mailer.list((req.query as MailboxQuery | undefined)?.to),
    );
    r.get('/dev/mailbox', { schema: { hide: true } }, async (req, reply) => {
      const list = await deps.mailer.list((req.query as MailboxQuery | undefined)?.to);
      const body = html`${MAILBOX_STYLE}<div class="card"><h1>Dev mailbox</h1><p class="muted">Mail the sandbox would
        have sent, newest first.</p></div>
        ${list.map(
          (m) => html`<div class="card mail">
          <div class="muted">To ${m.to} · ${new Date(m.createdAt).toISOString()}</div><h2>${m.subject}</h2>
          <p class="mail-body">${linkifyMailText(m.text)}</p></div>`,
        )}`;
      return reply
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(page({ title: 'Dev mailbox', body, mode: deps.mode }));
    });
  });
}
