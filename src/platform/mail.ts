import type { FastifyInstance } from 'fastify';
import nodemailer from 'nodemailer';
import type { Clock } from './clock.ts';
import type { SecretBox } from './crypto.ts';
import type { Db, Queryable } from './db/client.ts';
import type { IdGenerator } from './ids.ts';
import type { Outbox, OutboxHandler } from './outbox/service.ts';
import { adminGuard } from './admin-auth.ts';
import { html } from '../web/html.ts';
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

/** The mailbox pages' query string (unvalidated: the pages are a sandbox tool behind the admin token). */
type MailboxQuery = { to?: string };

/** The sandbox dev mailbox: an HTML page and JSON, behind the admin token (bearer header or ?token=). */
export function registerDevMailbox(app: FastifyInstance, deps: { mailer: Mailer; adminToken: string; mode: string }) {
  const guard = adminGuard(deps.adminToken);
  app.register(async (r) => {
    r.addHook('onRequest', async (req, reply) => {
      const token = (req.query as { token?: unknown } | undefined)?.token;
      if (typeof token === 'string' && !req.headers.authorization) req.headers.authorization = `Bearer ${token}`;
      return guard(req, reply);
    });
    r.get('/dev/mailbox.json', { schema: { hide: true } }, async (req) =>
      deps.mailer.list((req.query as MailboxQuery | undefined)?.to),
    );
    r.get('/dev/mailbox', { schema: { hide: true } }, async (req, reply) => {
      const list = await deps.mailer.list((req.query as MailboxQuery | undefined)?.to);
      const body = html`<div class="card"><h1>Dev mailbox</h1><p class="muted">Mail the sandbox would have sent.</p>
        </div>
        ${list.map(
          (m) => html`<div class="card mail">
          <div class="muted">To ${m.to} · ${new Date(m.createdAt).toISOString()}</div><h2>${m.subject}</h2>
          <pre style="white-space:pre-wrap">${m.text}</pre></div>`,
        )}`;
      return reply.type('text/html; charset=utf-8').send(page({ title: 'Dev mailbox', body, mode: deps.mode }));
    });
  });
}
