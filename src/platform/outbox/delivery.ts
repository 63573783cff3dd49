import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { Clock } from '../clock.ts';
import type { SecretBox } from '../crypto.ts';
import type { Db, DbRow } from '../db/client.ts';
import { describeError, err, errorField, ok, type Result } from '../errors.ts';
import type { IdGenerator } from '../ids.ts';
import { normalizeIp } from '../ip.ts';
import type { Logger } from '../logger.ts';
import { SETTLE_OUTCOME, storedOutcome, type HandlerOutcome, type OutboxHandler, type OutboxRow } from './service.ts';
import { WEBHOOK_TOPIC, type WebhookFamily, type WebhookPayload } from './webhook-family.ts';

/**
 * The shared webhook delivery engine: handles outbox rows of topic 'webhook' for every API family.
 * The outbox row is the delivery (payload, PENDING/DONE/FAILED, schedule on the business clock, per-key
 * ordering); this engine POSTs the stored body bytes with the family's freshly signed headers, records every
 * attempt, and turns the answer into done / retry-at / failed on the family's schedule.
 */
const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;
const EXCERPT_BYTES = 1024;
/** Enough to parse any sane ack; a receiver streaming more is cut off (and the timeout still applies). */
const MAX_RESPONSE_BYTES = 64 * 1024;
/**
 * Attempts logged per statement: at most `maxBatch`; a batch goes as soon as it has `flushAt` attempts, or `lingerMs`
 * after its first one, one statement at a time (the next batch forms behind it). The short linger matters on PGlite,
 * whose statements run on this thread: answers that arrive while one runs are only read after it, so without waiting
 * a batch holds what one event-loop turn read, a few attempts.
 */
const ATTEMPT_BATCH = { maxBatch: 128, flushAt: 16, lingerMs: 10 };

type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED';
/** Keyed by the outbox's status column, whose CHECK constraint admits exactly these. */
const FROM_OUTBOX: Record<'PENDING' | 'DONE' | 'FAILED', DeliveryStatus> = {
  PENDING: 'PENDING',
  DONE: 'DELIVERED',
  FAILED: 'FAILED',
};
const TO_OUTBOX: Record<DeliveryStatus, string> = { PENDING: 'PENDING', DELIVERED: 'DONE', FAILED: 'FAILED' };

/** An attempt to log, with its row's outcome (see recordAttempts). */
interface AttemptRow {
  deliveryId: bigint;
  round: number;
  attemptNo: number;
  attemptedAt: number;
  url: string;
  httpStatus: number | null;
  latencyMs: number;
  response: string | null;
  error: string | null;
  acked: boolean;
  /** The row's outcome, written with the attempt, and when it was reached (business clock). */
  outcome: HandlerOutcome;
  settledAt: number;
}

interface DeliveryAttempt {
  round: number;
  attemptNo: number;
  attemptedAt: number;
  url: string;
  httpStatus: number | null;
  latencyMs: number;
  response: string | null;
  error: string | null;
  acked: boolean;
}

export interface Delivery {
  id: string;
  family: string;
  ownerId: string;
  url: string;
  bizType: string;
  bizId: string;
  bizStatus: string;
  body: string;
  status: DeliveryStatus;
  round: number;
  createdAt: number;
  completedAt: number | null;
  nextAttemptAt: number | null;
  lastError: string | null;
  attempts: DeliveryAttempt[];
}

/** Addresses a production server must never be made to call: loopback, private, link-local, unique-local, etc. */
const FORBIDDEN = (() => {
  const bl = new BlockList();
  for (const [net, bits] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ] as const)
    bl.addSubnet(net, bits, 'ipv4');
  for (const [net, bits] of [
    ['::', 96],
    ['::1', 128],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
  ] as const)
    bl.addSubnet(net, bits, 'ipv6');
  return bl;
})();

export function isForbiddenAddress(address: string): boolean {
  const a = normalizeIp(address.toLowerCase());
  const fam = isIP(a);
  if (fam === 0) return true;
  if (fam === 6 && a.startsWith('64:ff9b::')) {
    // NAT64: the IPv4 address embedded in the low 32 bits is where the packet really goes.
    const tail = a.slice('64:ff9b::'.length);
    if (isIP(tail) === 4) return isForbiddenAddress(tail);
    const [hi, lo] = tail.split(':').map((h) => parseInt(h || '0', 16));
    if (
      tail.split(':').length === 2 &&
      hi !== undefined &&
      lo !== undefined &&
      Number.isFinite(hi) &&
      Number.isFinite(lo)
    ) {
      return isForbiddenAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
    }
  }
  return FORBIDDEN.check(a, fam === 6 ? 'ipv6' : 'ipv4');
}

class RefusedTarget extends Error {}

interface PostResult {
  httpStatus: number | null;
  body: Buffer | null;
  error: string | null;
}

export interface WebhookDeliveryService {
  /** Outbox handler of topic 'webhook'. */
  handle: OutboxHandler;
  list(opts?: {
    status?: DeliveryStatus;
    ownerId?: string;
    family?: string;
    bizId?: string;
    limit?: number;
  }): Promise<Delivery[]>;
  get(id: string): Promise<Delivery | null>;
  /** Sends a DELIVERED or FAILED delivery again: same body, fresh headers, a new round of attempts and retries. */
  redeliver(id: string): Promise<Result<Delivery, 'DELIVERY_NOT_FOUND' | 'DELIVERY_PENDING'>>;
  close(): void;
}

/**
 * Group commit with a short linger (see ATTEMPT_BATCH): `run` answers one result per item, in order; if it throws,
 * every item of its batch gets the error.
 */
function lingeringBatcher<I, O>(
  run: (items: I[]) => Promise<O[]>,
  opts: { maxBatch: number; flushAt: number; lingerMs: number },
) {
  let queue: { item: I; resolve(o: O): void; reject(e: unknown): void }[] = [];
  let timer: NodeJS.Timeout | null = null;
  let running = false;
  const arm = () => {
    if (running || queue.length === 0) return;
    if (queue.length >= opts.flushAt) void flush();
    else timer ??= setTimeout(() => void flush(), opts.lingerMs);
  };
  async function flush() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (running || queue.length === 0) return;
    running = true;
    const batch = queue.slice(0, opts.maxBatch);
    queue = queue.slice(batch.length);
    try {
      const out = await run(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(out[i]!)); // one result per item
    } catch (e) {
      batch.forEach((w) => w.reject(e));
    } finally {
      running = false;
      arm();
    }
  }
  return (item: I): Promise<O> =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      arm();
    });
}

export function createWebhookDelivery(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  families: Record<string, WebhookFamily>;
  /** Opens bodies stored sealed (they carry a secret). */
  box: SecretBox;
  mode: 'sandbox' | 'production';
  /**
   * Sandbox only: whether webhooks may reach loopback and private addresses (SANDBOX_ALLOW_PRIVATE_TARGETS); unset:
   * sandbox yes, production no.
   */
  allowPrivateTargets?: boolean;
  logger?: Logger;
  /** Per-attempt limit for connect + response; tests shorten it, everyone else gets the spec's 5 s. */
  timeoutMs?: number;
  /** Called after a redelivery is queued, so the worker can pick it up at once. */
  onQueued?: () => void;
}): WebhookDeliveryService {
  const { db, clock, ids, families } = deps;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

  /**
   * In production the target host is resolved here, every address checked, and the connection pinned to the
   * checked address, so a second DNS answer (rebinding) cannot swap in a private one.
   */
  async function guardTarget(url: URL): Promise<LookupFunction | undefined> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new RefusedTarget(`unsupported URL scheme ${url.protocol}`);
    if (deps.mode !== 'production' && (deps.allowPrivateTargets ?? true)) return undefined;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const addrs = isIP(host)
      ? [{ address: host, family: isIP(host) }]
      : await dnsLookup(host, { all: true, verbatim: true });
    if (addrs.length === 0) throw new Error(`${host} did not resolve`);
    const bad = addrs.find((a) => isForbiddenAddress(a.address));
    if (bad)
      throw new RefusedTarget(`refused: ${host} resolves to ${bad.address}, a loopback, private or link-local address`);
    const pinned = addrs[0];
    if (!pinned) throw new Error(`${host} did not resolve`);
    const lookup: LookupFunction = (_hostname, options, cb) => {
      if (options?.all) cb(null, [pinned]);
      else cb(null, pinned.address, pinned.family);
    };
    return lookup;
  }

  function post(
    url: URL,
    headers: Record<string, string>,
    body: Buffer,
    lookup: LookupFunction | undefined,
  ): Promise<PostResult> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (r: PostResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'Content-Length': String(body.length) },
          agent: url.protocol === 'https:' ? agents.https : agents.http,
          ...(lookup ? { lookup } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < MAX_RESPONSE_BYTES) chunks.push(c);
            size += c.length;
          });
          res.on('end', () =>
            finish({
              httpStatus: res.statusCode ?? 0,
              body: Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES),
              error: null,
            }),
          );
          res.on('error', (e) =>
            finish({ httpStatus: res.statusCode ?? null, body: Buffer.concat(chunks), error: String(e.message) }),
          );
        },
      );
      const timer = setTimeout(() => {
        finish({ httpStatus: null, body: null, error: `timeout after ${timeoutMs} ms` });
        req.destroy();
      }, timeoutMs);
      req.on('error', (e: Error) =>
        finish({ httpStatus: null, body: null, error: describeError(e, 'code', 'message') }),
      );
      req.end(body);
    });
  }

  /**
   * Logs many attempts and writes their outcomes to their outbox rows in one statement: the attempt, the row's count of
   * attempts in its round (round_attempts, which the next claim hands over) and its settlement (SETTLE_OUTCOME) commit
   * together, so the count always matches the log, and until the statement commits the row stays PENDING under its
   * lease (a crash before then means the delivery is claimed and sent again: at-least-once). Group commit: the attempts
   * that end while the previous statement runs go together in the next.
   */
  async function recordAttempts(items: AttemptRow[]): Promise<(void | Error)[]> {
    const sorted = [...items].sort((a, b) => (a.deliveryId < b.deliveryId ? -1 : a.deliveryId > b.deliveryId ? 1 : 0));
    const stored = sorted.map((a) => storedOutcome(a.outcome));
    try {
      await db.query(
        `WITH v AS (
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[], $5::bigint[], $6::text[], $7::int[],
             $8::int[], $9::text[], $10::text[], $11::boolean[], $12::text[], $13::bigint[], $14::text[], $15::bigint[])
             AS v(attempt_id, id, round, attempt_no, attempted_at, url, http_status, latency_ms, response_excerpt,
               attempt_error, acked, status, retry_at, error, settled_at)
         ), logged AS (
           INSERT INTO webhook_delivery_attempts (id, delivery_id, round, attempt_no, attempted_at, url, http_status,
             latency_ms, response_excerpt, error, acked)
           SELECT attempt_id, id, round, attempt_no, attempted_at, url, http_status, latency_ms, response_excerpt,
             attempt_error, acked FROM v
         )
         UPDATE outbox o SET round_attempts = o.round_attempts + 1, ${SETTLE_OUTCOME}
         FROM v WHERE o.id = v.id AND o.round = v.round`,
        [
          sorted.map(() => String(ids.next())),
          sorted.map((a) => String(a.deliveryId)),
          sorted.map((a) => a.round),
          sorted.map((a) => a.attemptNo),
          sorted.map((a) => a.attemptedAt),
          sorted.map((a) => a.url),
          sorted.map((a) => a.httpStatus),
          sorted.map((a) => a.latencyMs),
          sorted.map((a) => a.response),
          sorted.map((a) => a.error),
          sorted.map((a) => a.acked),
          stored.map((o) => o.status),
          stored.map((o) => o.retryAt),
          stored.map((o) => o.error),
          sorted.map((a) => a.settledAt),
        ],
      );
      return items.map(() => undefined);
    } catch (e) {
      // One unstorable row (say, a response excerpt PostgreSQL refuses) must not cost the others their log entry.
      if (items.length === 1) return [e instanceof Error ? e : new Error(String(e))];
      return (await Promise.all(items.map((a) => recordAttempts([a])))).flat();
    }
  }
  const recordAttempt = lingeringBatcher(recordAttempts, ATTEMPT_BATCH);

  async function handle(row: OutboxRow, slot?: { release(): void }): Promise<HandlerOutcome> {
    const p = row.payload as WebhookPayload;
    // The claim hands over the round and how many attempts it has logged: no query per delivery.
    const round = Number(row.round);
    const attemptNo = Number(row.round_attempts) + 1;
    const family = families[p.family];
    const attemptedAt = clock.now();
    const started = performance.now();
    let result: PostResult;
    let refused = false;
    try {
      if (!family) throw new RefusedTarget(`unknown webhook family ${p.family}`);
      const url = new URL(p.url);
      const lookup = await guardTarget(url);
      const body = p.sealedBody ? deps.box.open(p.sealedBody) : p.body;
      const headers = await family.sign(body, p);
      result = await post(url, headers, Buffer.from(body, 'utf8'), lookup);
    } catch (e) {
      refused = e instanceof RefusedTarget || errorField(e, 'code') === 'ERR_INVALID_URL';
      result = { httpStatus: null, body: null, error: describeError(e, 'message') };
    }
    const latencyMs = Math.round(performance.now() - started);
    // Done with the receiver: its slot may serve the next delivery while this attempt is logged.
    slot?.release();
    const responseText = result.body ? result.body.toString('utf8') : '';
    const acked =
      !!family && result.httpStatus !== null && result.error === null && family.isAck(result.httpStatus, responseText);
    const error = acked ? null : (result.error ?? `not acknowledged (HTTP ${result.httpStatus})`);
    let outcome: HandlerOutcome;
    if (acked) outcome = { status: 'done' };
    else {
      deps.logger?.warn(
        { deliveryId: String(row.id), attempt: attemptNo, httpStatus: result.httpStatus, error },
        'webhook attempt failed',
      );
      // A refused or malformed target will not get better by waiting: fail now, visibly; an operator can redeliver.
      const delayMs = family?.retryDelaysMs[attemptNo - 1];
      outcome =
        refused || !family || delayMs === undefined
          ? { status: 'failed', error: error! }
          : { status: 'retry', at: clock.now() + delayMs, error: error! };
    }
    const logged = await recordAttempt({
      deliveryId: row.id,
      round,
      attemptNo,
      attemptedAt,
      url: p.url,
      httpStatus: result.httpStatus,
      latencyMs,
      response: result.body ? result.body.subarray(0, EXCERPT_BYTES).toString('utf8') : null,
      error,
      acked,
      outcome,
      settledAt: clock.now(),
    });
    if (logged instanceof Error) throw logged;
    return { ...outcome, settled: true };
  }

  function toDelivery(r: DbRow, attempts: DeliveryAttempt[]): Delivery {
    const p = r.payload as WebhookPayload;
    const status = FROM_OUTBOX[r.status as keyof typeof FROM_OUTBOX];
    return {
      id: String(r.id),
      family: p.family,
      ownerId: p.ownerId,
      url: p.url,
      bizType: p.bizType,
      bizId: p.bizId,
      bizStatus: p.bizStatus,
      body: p.body,
      status,
      round: Number(r.round),
      createdAt: Number(r.created_at),
      completedAt: r.completed_at == null ? null : Number(r.completed_at),
      nextAttemptAt: status === 'PENDING' ? Number(r.next_attempt_at) : null,
      lastError: r.last_error ?? null,
      attempts,
    };
  }

  async function load(where: string, params: unknown[], limit: number): Promise<Delivery[]> {
    const rows = (
      await db.query(
        `SELECT o.id, o.payload, o.status, o.next_attempt_at, o.created_at, o.completed_at, o.last_error, o.round
       FROM outbox o
       WHERE o.topic = '${WEBHOOK_TOPIC}' AND ${where} ORDER BY o.id DESC LIMIT ${Number(limit)}`,
        params,
      )
    ).rows;
    if (rows.length === 0) return [];
    const att = (
      await db.query(`SELECT * FROM webhook_delivery_attempts WHERE delivery_id = ANY($1::bigint[]) ORDER BY id`, [
        rows.map((r) => String(r.id)),
      ])
    ).rows;
    const byDelivery = new Map<string, DeliveryAttempt[]>();
    for (const a of att) {
      const list = byDelivery.get(String(a.delivery_id)) ?? [];
      list.push({
        round: Number(a.round),
        attemptNo: Number(a.attempt_no),
        attemptedAt: Number(a.attempted_at),
        url: a.url,
        httpStatus: a.http_status == null ? null : Number(a.http_status),
        latencyMs: Number(a.latency_ms),
        response: a.response_excerpt ?? null,
        error: a.error ?? null,
        acked: a.acked,
      });
      byDelivery.set(String(a.delivery_id), list);
    }
    return rows.map((r) => toDelivery(r, byDelivery.get(String(r.id)) ?? []));
  }

  const service: WebhookDeliveryService = {
    handle,

    async list(opts = {}) {
      const limit = Math.min(Math.max(opts.limit ?? 100, 1), 500);
      return load(
        `($1::text IS NULL OR o.status = $1) AND ($2::text IS NULL OR o.payload->>'ownerId' = $2)
          AND ($3::text IS NULL OR o.payload->>'family' = $3) AND ($4::text IS NULL OR o.payload->>'bizId' = $4)`,
        [opts.status ? TO_OUTBOX[opts.status] : null, opts.ownerId ?? null, opts.family ?? null, opts.bizId ?? null],
        limit,
      );
    },

    async get(id) {
      if (!/^\d{1,19}$/.test(id)) return null;
      return (await load(`o.id = $1`, [id], 1))[0] ?? null;
    },

    async redeliver(id) {
      if (!/^\d{1,19}$/.test(id)) return err('DELIVERY_NOT_FOUND');
      const outcome = await db.tx(async (q) => {
        const now = clock.now();
        const r = await q.query(
          `UPDATE outbox SET status = 'PENDING', next_attempt_at = $2, leased_until = 0, completed_at = NULL,
            last_error = NULL, round = round + 1, round_attempts = 0
           WHERE id = $1 AND topic = '${WEBHOOK_TOPIC}' AND status IN ('DONE', 'FAILED') RETURNING id`,
          [id, now],
        );
        if (r.rowCount === 0) {
          const exists = (await q.query(`SELECT status FROM outbox WHERE id = $1 AND topic = '${WEBHOOK_TOPIC}'`, [id]))
            .rows[0];
          return exists ? ('DELIVERY_PENDING' as const) : ('DELIVERY_NOT_FOUND' as const);
        }
        await q.query(
          `INSERT INTO webhook_deliveries (id, round, redelivered_at) VALUES ($1, 1, $2)
           ON CONFLICT (id) DO UPDATE SET round = webhook_deliveries.round + 1,
           redelivered_at = EXCLUDED.redelivered_at`,
          [id, now],
        );
        return 'OK' as const;
      });
      if (outcome !== 'OK') return err(outcome);
      deps.onQueued?.();
      return ok((await service.get(id))!);
    },

    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
  return service;
}
