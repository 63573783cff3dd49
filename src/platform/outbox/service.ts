import type { Clock } from '../clock.ts';
import type { Db, Queryable } from '../db/client.ts';
import type { IdGenerator } from '../ids.ts';
import type { Logger } from '../logger.ts';
import { WEBHOOK_TOPIC } from './webhook-family.ts';
import { describeError } from '../errors.ts';

/**
 * Transactional outbox: an event row is written in the same transaction as the state change that causes it,
 * then handled by workers. Rows that share an ordering key are handled strictly in id order.
 * Workers claim rows with FOR UPDATE SKIP LOCKED and a lease, then do slow work (HTTP) outside any
 * transaction: a crashed worker's lease lapses and another worker picks the row up.
 *
 * Each row is handled and settled on its own, in a bounded pool: topics are grouped into classes with their own
 * slots (webhooks, mail, KYC document downloads, internal steps), webhooks are further limited per destination
 * host, and a slot that frees up is refilled at once. So a receiver that hangs until its timeout holds only its
 * own host's few slots, and mail or a refund completion never waits behind it.
 */
export interface OutboxRow<P = unknown> {
  id: bigint;
  topic: string;
  ordering_key: string | null;
  payload: P;
  attempts: number;
  next_attempt_at: bigint;
  created_at: bigint;
}

export type HandlerOutcome =
  { status: 'done' } | { status: 'retry'; at: number; error: string } | { status: 'failed'; error: string };
export type OutboxHandler = (row: OutboxRow) => Promise<HandlerOutcome>;

export interface Outbox {
  enqueue(q: Queryable, e: { topic: string; orderingKey?: string; payload: unknown; at?: number }): Promise<bigint>;
}

/**
 * host:port of a payload's `url` (what the per-destination limit counts), lower case, without credentials; null when
 * it has none.
 */
function destinationHost(payload: unknown): string | null {
  const url = (payload as { url?: unknown } | null)?.url;
  if (typeof url !== 'string') return null;
  return (url.split('/')[2] ?? '').replace(/^.*@/, '').toLowerCase();
}

export function createOutbox(deps: { clock: Clock; ids: IdGenerator }): Outbox {
  return {
    async enqueue(q, e) {
      const id = deps.ids.next();
      const now = deps.clock.now();
      await q.query(
        `INSERT INTO outbox (id, topic, ordering_key, payload, next_attempt_at, created_at, dest_host)
          VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, e.topic, e.orderingKey ?? null, JSON.stringify(e.payload), e.at ?? now, now, destinationHost(e.payload)],
      );
      return id;
    },
  };
}

/**
 * A class of topics with its own slots, so that slow work in one class never holds up another: webhooks (whose
 * receivers can hang until the timeout) never delay mail or internal steps, and vice versa.
 */
export interface OutboxClass {
  name: string;
  topics: string[];
  /** Rows of this class handled at once by one worker. */
  slots: number;
  /**
   * At most this many rows at once per destination (the host:port of `payload.url`), so one slow or hanging
   * receiver cannot take every slot of its class. 0: no per-destination limit.
   */
  perHost?: number;
  /** How long a claim holds the row; must exceed the longest handling (a crashed worker's rows wait this long). */
  leaseMs?: number;
}

/** Webhooks get their own bounded class with a per-host limit; every other topic shares the 'internal' class. */
export const DEFAULT_WEBHOOK_CLASS: OutboxClass = { name: 'webhook', topics: [WEBHOOK_TOPIC], slots: 32, perHost: 8 };
const DEFAULT_INTERNAL_SLOTS = 8;

interface OutboxWorker {
  /**
   * Claims what is due, handles it (claiming more as slots free up) and returns when every row it claimed is
   * settled and nothing more is due; returns how many rows it handled. A row retried during the call is not
   * handled again in the same call.
   */
  runOnce(): Promise<number>;
  /**
   * The continuous pool: claims rows whenever a slot is free (at once when a row settles, otherwise every
   * `idleMs`), each row handled and settled on its own. `stop()` stops claiming and waits for rows in hand.
   */
  start(opts: { idleMs: number }): { stop(): Promise<void>; kick(): void };
  /** Rows in hand per class (for tests and metrics). */
  inFlight(): Record<string, number>;
}

interface ClaimedRow extends OutboxRow {
  cls: number;
  host: string | null;
}

/**
 * A row with an ordering key is due only when it is the first pending row of its key. Written as a min() over the key,
 * so that the plan is one descent of outbox_ordering (ordering_key, id) whatever the statistics say: a NOT EXISTS over
 * `id < o.id` let PGlite's cached generic plan (built without statistics, as PGlite runs no autovacuum) walk the
 * pending-id index instead, a scan per row.
 */
const FIRST_OF_KEY = `SELECT min(p.id) FROM outbox p WHERE p.ordering_key = o.ordering_key AND p.status = 'PENDING'`;

export function createOutboxWorker(deps: {
  db: Db;
  clock: Clock;
  handlers: Record<string, OutboxHandler>;
  logger?: Logger;
  /** Most rows one claim takes per class. */
  batchSize?: number;
  /** Default lease for classes without their own. */
  leaseMs?: number;
  /** Topic classes; topics not listed in any class share an 'internal' class of DEFAULT_INTERNAL_SLOTS. */
  classes?: OutboxClass[];
  internalSlots?: number;
}): OutboxWorker {
  const { db, clock, handlers } = deps;
  const topics = Object.keys(handlers);
  const batch = deps.batchSize ?? 50;
  const leaseMs = deps.leaseMs ?? 60_000;

  // Classes in a fixed order (index + 1 is the class number in SQL); each topic with a handler belongs to exactly one.
  const declared = (deps.classes ?? [DEFAULT_WEBHOOK_CLASS]).map((c) => ({
    ...c,
    topics: c.topics.filter((t) => topics.includes(t)),
  }));
  const taken = new Set(declared.flatMap((c) => c.topics));
  const classes = [
    ...declared,
    {
      name: 'internal',
      topics: topics.filter((t) => !taken.has(t)),
      slots: deps.internalSlots ?? DEFAULT_INTERNAL_SLOTS,
    },
  ]
    .filter((c) => c.topics.length > 0)
    .map((c) => ({
      ...c,
      perHost: c.perHost ?? 0,
      leaseMs: c.leaseMs ?? leaseMs,
      inflight: 0,
      /** The last claim found rows of this class, so more may be waiting; and rows settled since that claim. */
      more: true,
      freed: 0,
      /** A claim scans every due row (on PGlite ~20 ms per thousand), so refill after a few settle, not after each. */
      refillAfter: Math.max(1, Math.floor(c.slots / 4)),
    }));
  const topicList = classes.flatMap((c) => c.topics);
  /** Class index of each topic. */
  const topicIndex = new Map(classes.flatMap((c, i) => c.topics.map((t) => [t, i] as const)));
  /** Rows in hand per `${class}|${host}`. */
  const hostInflight = new Map<string, number>();
  /** A class by index; indexes come from topicIndex or a claimed row's cls, both made from this list. */
  const classAt = (i: number) => {
    const c = classes[i];
    if (!c) throw new Error(`no outbox class ${i}`);
    return c;
  };
  const freeSlots = () => classes.map((c) => Math.max(0, Math.min(batch, c.slots - c.inflight)));
  const slotsListeners = new Set<() => void>();

  async function claim(exclude: Iterable<string>): Promise<ClaimedRow[]> {
    const free = freeSlots();
    if (free.every((n) => n === 0)) return [];
    const wall = Date.now();
    const now = clock.now();
    const saturated = new Set(
      [...hostInflight.entries()].filter(([k, n]) => n >= classAt(Number(k.split('|')[0]) - 1).perHost).map(([k]) => k),
    );
    // 1. Candidates: the first due rows by id (a walk of the pending-id index that stops at the limit), skipping hosts
    //    whose slots are all taken, so a hanging host's backlog is passed over in the index, not ranked and sorted.
    //    The host is the URL's authority (host:port), kept in the dest_host column at enqueue so no payload is read.
    // By host alone: only the webhook class has a per-host limit (only webhook payloads carry a url). A second class
    // with one would need the class in this filter too.
    const saturatedHosts = [...saturated].map((k) => k.slice(k.indexOf('|') + 1));
    const cand = await db.query<{ id: bigint; topic: string; dest_host: string | null }>(
      `SELECT o.id, o.topic, o.dest_host FROM outbox o
       WHERE o.status = 'PENDING' AND o.next_attempt_at <= $1 AND o.leased_until < $2 AND o.topic = ANY($3::text[])
         AND (o.dest_host IS NULL OR o.dest_host <> ALL($4::text[])) AND o.id <> ALL($5::bigint[])
         AND (o.ordering_key IS NULL OR o.id = (${FIRST_OF_KEY}))
       ORDER BY o.id LIMIT $6`,
      [now, wall, topicList, saturatedHosts, [...exclude], Math.max(100, 4 * free.reduce((a, b) => a + b, 0))],
    );
    // 2. The pick, in id order: no more than a class's free slots, nor a host's (per class) free slots.
    const picked = new Map<bigint, { cls: number; host: string | null }>();
    const takenPerHost = new Map<string, number>();
    for (const c of cand.rows) {
      const ci = topicIndex.get(c.topic)!;
      const freeHere = free[ci] ?? 0;
      if (freeHere === 0) continue;
      const perHost = classAt(ci).perHost;
      const host = perHost > 0 ? c.dest_host : null;
      if (host !== null) {
        const key = `${ci + 1}|${host}`;
        const n = (hostInflight.get(key) ?? 0) + (takenPerHost.get(key) ?? 0);
        if (n >= perHost) continue;
        takenPerHost.set(key, (takenPerHost.get(key) ?? 0) + 1);
      }
      free[ci] = freeHere - 1;
      picked.set(BigInt(c.id), { cls: ci + 1, host });
    }
    const found = new Set(cand.rows.map((c) => topicIndex.get(c.topic)!));
    classes.forEach((c, i) => {
      c.freed = 0;
      c.more = found.has(i);
    });
    if (picked.size === 0) return [];
    // 3. The claim: the picked rows are locked with SKIP LOCKED and re-checked (status, due, lease, ordering) under the
    //    lock, so two workers never claim one row and a row never overtakes an earlier one of its ordering key.
    const ids = [...picked.keys()];
    const r = await db.query<OutboxRow>(
      `UPDATE outbox u SET leased_until = $2 + ($4::bigint[])[array_position($5::text[], u.topic)],
        attempts = u.attempts + 1
       WHERE u.id IN (
         SELECT o.id FROM outbox o
         WHERE o.id = ANY($3::bigint[]) AND o.status = 'PENDING' AND o.next_attempt_at <= $1 AND o.leased_until < $2
           AND (o.ordering_key IS NULL OR o.id = (${FIRST_OF_KEY}))
         FOR UPDATE SKIP LOCKED)
       RETURNING u.id, u.topic, u.ordering_key, u.payload, u.attempts, u.next_attempt_at, u.created_at`,
      [now, wall, ids, topicList.map((t) => classAt(topicIndex.get(t)!).leaseMs), topicList],
    );
    return r.rows.map((row) => ({ ...row, ...picked.get(BigInt(row.id))! })).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** True when a claim now is worth its scan: a class that had rows waiting has freed enough slots (or all of them). */
  const refillWanted = () => classes.some((c) => c.more && (c.freed >= c.refillAfter || c.inflight === 0));

  async function settle(row: OutboxRow, outcome: HandlerOutcome) {
    if (outcome.status === 'done') {
      await db.query(
        `UPDATE outbox SET status = 'DONE', completed_at = $2, leased_until = 0, last_error = NULL WHERE id = $1`,
        [row.id, clock.now()],
      );
    } else if (outcome.status === 'retry') {
      await db.query(`UPDATE outbox SET next_attempt_at = $2, leased_until = 0, last_error = $3 WHERE id = $1`, [
        row.id,
        outcome.at,
        outcome.error.slice(0, 1000),
      ]);
    } else {
      await db.query(
        `UPDATE outbox SET status = 'FAILED', completed_at = $2, leased_until = 0, last_error = $3 WHERE id = $1`,
        [row.id, clock.now(), outcome.error.slice(0, 1000)],
      );
    }
  }

  /** Handles one claimed row in its slot and settles it; resolves to the outcome's status. Never rejects. */
  function launch(row: ClaimedRow): Promise<HandlerOutcome['status'] | 'unsettled'> {
    const cls = classAt(row.cls - 1);
    const hostKey = row.host === null ? null : `${row.cls}|${row.host}`;
    cls.inflight++;
    if (hostKey) hostInflight.set(hostKey, (hostInflight.get(hostKey) ?? 0) + 1);
    return (async () => {
      try {
        let outcome: HandlerOutcome;
        try {
          const handler = handlers[row.topic];
          if (!handler) throw new Error(`no handler for topic ${row.topic}`);
          outcome = await handler(row);
        } catch (e) {
          deps.logger?.error({ err: e, outboxId: String(row.id), topic: row.topic }, 'outbox handler threw');
          outcome = { status: 'retry', at: clock.now() + 15_000, error: describeError(e, 'message') };
        }
        await settle(row, outcome);
        return outcome.status;
      } catch (e) {
        // The row stays leased; when the lease lapses another claim picks it up (at-least-once).
        deps.logger?.error({ err: e, outboxId: String(row.id), topic: row.topic }, 'outbox row could not be settled');
        return 'unsettled' as const;
      } finally {
        cls.inflight--;
        cls.freed++;
        if (hostKey) {
          const n = (hostInflight.get(hostKey) ?? 1) - 1;
          if (n > 0) hostInflight.set(hostKey, n);
          else hostInflight.delete(hostKey);
        }
        for (const l of slotsListeners) l();
      }
    })();
  }

  const yieldToEventLoop = () => new Promise((resolve) => setImmediate(resolve));

  return {
    async runOnce() {
      if (classes.length === 0) return 0;
      const running = new Set<Promise<unknown>>();
      const retried = new Set<string>();
      let count = 0;
      for (;;) {
        const rows = await claim(retried);
        for (const row of rows) {
          count++;
          const p: Promise<void> = launch(row).then((status) => {
            if (status !== 'done' && status !== 'failed') retried.add(String(row.id));
            running.delete(p);
          });
          running.add(p);
        }
        if (running.size === 0) return count;
        // Settled rows may have unblocked later rows of their ordering key or host: claim again once it is worth it,
        // and at the latest when everything in hand is settled.
        await Promise.race(running);
        while (running.size > 0 && !refillWanted()) await Promise.race(running);
        await yieldToEventLoop();
      }
    },

    start(opts) {
      let stopped = false;
      let timer: NodeJS.Timeout | null = null;
      let filling: Promise<void> | null = null;
      let again = false;
      const running = new Set<Promise<unknown>>();

      const fill = (): Promise<void> | null => {
        if (stopped) return null;
        if (filling) {
          again = true;
          return filling;
        }
        if (timer) clearTimeout(timer);
        timer = null;
        filling = (async () => {
          do {
            again = false;
            try {
              const rows = await claim([]);
              for (const row of rows) {
                const p: Promise<void> = launch(row).then(() => {
                  running.delete(p);
                });
                running.add(p);
              }
            } catch (e) {
              if (!stopped) deps.logger?.error({ err: e, loop: 'outbox' }, 'outbox claim failed');
            }
            if (again) await yieldToEventLoop();
          } while (again && !stopped);
          filling = null;
          if (!stopped) timer = setTimeout(() => void fill(), opts.idleMs);
        })();
        return filling;
      };
      // Between polls, a claim is made as soon as enough slots of a class with waiting rows are free.
      const onSlotFree = () => {
        if (refillWanted()) void fill();
      };
      slotsListeners.add(onSlotFree);
      void fill();
      return {
        kick() {
          void fill();
        },
        async stop() {
          stopped = true;
          slotsListeners.delete(onSlotFree);
          if (timer) clearTimeout(timer);
          await filling;
          await Promise.all(running);
        },
      };
    },

    inFlight() {
      return Object.fromEntries(classes.map((c) => [c.name, c.inflight]));
    },
  };
}
