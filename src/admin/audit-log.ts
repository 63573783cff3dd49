import type { FastifyInstance, FastifyRequest } from 'fastify';
import { randomString, safeEqual } from '../platform/crypto.ts';
import type { Db, DbRow } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';

/**
 * The operator audit log: every operator action, from the console or from the admin API with the bearer token, is
 * one row: who, what, on which path, with which outcome. Actions are the state-changing requests to the admin and
 * sandbox APIs (the console acts only through them) and the console's own log-ins and log-outs.
 *
 * The console calls the admin API in process and names its operator in a header that carries this process's random
 * key, so a request from outside cannot claim to be a console operator.
 */
export const CONSOLE_ACTOR_HEADER = 'x-rampart-console-actor';
const AUDITED_PREFIXES = ['/admin/v1/', '/sandbox/v1/'];
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Fields never copied into the log's summary. */
const SECRET_FIELD = /password|secret|token|key|pem|code|pan|cvv/i;
const SUMMARY_MAX = 500;

export interface AuditEntry {
  id: string;
  at: number;
  actor: string;
  actorEmail: string | null;
  method: string;
  path: string;
  status: number;
  summary: string;
}

export interface AuditActor {
  actor: string;
  email: string | null;
}

const toEntry = (r: DbRow): AuditEntry => ({
  id: String(r.id),
  at: Number(r.at),
  actor: r.actor,
  actorEmail: r.actor_email,
  method: r.method,
  path: r.path,
  status: Number(r.status),
  summary: r.summary,
});

/** The body's fields in one line, secrets left out, for a person scanning the log. */
function summarize(body: unknown): string {
  if (body === null || typeof body !== 'object') return '';
  const parts = Object.entries(body as Record<string, unknown>)
    .filter(([k]) => !SECRET_FIELD.test(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const s = parts.join(', ');
  return s.length > SUMMARY_MAX ? `${s.slice(0, SUMMARY_MAX - 1)}…` : s;
}

const decodePath = (p: string) => {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
};

export function createAuditLog(deps: { db: Db; ids: IdGenerator }) {
  const { db, ids } = deps;
  const processKey = randomString(32);

  const log = {
    async record(e: Omit<AuditEntry, 'id' | 'at'>) {
      await db.query(
        `INSERT INTO operator_audit_log (id, at, actor, actor_email, method, path, status, summary)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        // Wall time, not the sandbox's movable business clock: the log says when a person acted.
        [ids.next(), Date.now(), e.actor, e.actorEmail, e.method, e.path, e.status, e.summary],
      );
    },

    /** Newest first; `pathPrefix` narrows to one object's actions (e.g. `/admin/v1/kyc/123/`). */
    async list(opts: { limit?: number; before?: string; actor?: string; pathPrefix?: string } = {}) {
      const r = await db.query(
        `SELECT * FROM operator_audit_log
          WHERE ($1::bigint IS NULL OR id < $1::bigint) AND ($2::text IS NULL OR actor = $2)
            AND ($3::text IS NULL OR starts_with(path, $3))
          ORDER BY id DESC LIMIT $4`,
        [opts.before ?? null, opts.actor ?? null, opts.pathPrefix ?? null, Math.min(opts.limit ?? 100, 500)],
      );
      return r.rows.map(toEntry);
    },

    /** The header value naming a console operator to the admin API. */
    consoleHeader: (a: AuditActor) => `${processKey} ${a.actor} ${a.email ?? ''}`.trim(),

    /** Who made an admin API request: a console operator (by this process's header), else the token's holder. */
    actorOf(req: FastifyRequest, status: number): AuditActor {
      const h = req.headers[CONSOLE_ACTOR_HEADER];
      if (typeof h === 'string') {
        const [key, actor, email] = h.split(' ');
        if (key && actor && safeEqual(key, processKey)) return { actor, email: email || null };
      }
      return status === 401 ? { actor: 'anonymous', email: null } : { actor: 'admin-token', email: null };
    },

    /** Records every state-changing admin or sandbox API request once answered (refused ones too). */
    register(app: FastifyInstance) {
      app.addHook('onResponse', async (req, reply) => {
        if (READ_METHODS.has(req.method)) return;
        // Decided by the route that answered (its pattern), not the raw URL: a percent-encoded path (/%61dmin/v1/...)
        // reaches the same route and must be logged the same. Unmatched URLs changed nothing.
        const route = req.routeOptions.url;
        if (!route || !AUDITED_PREFIXES.some((p) => route.startsWith(p))) return;
        const path = decodePath(req.url.split('?')[0]!);
        const who = log.actorOf(req, reply.statusCode);
        await log.record({
          actor: who.actor,
          actorEmail: who.email,
          method: req.method,
          path,
          status: reply.statusCode,
          summary: summarize(req.body),
        });
      });
    },
  };
  return log;
}
export type AuditLog = ReturnType<typeof createAuditLog>;
