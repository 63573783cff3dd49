import type { Clock } from '../clock.ts';
import type { Db, Queryable } from '../db/client.ts';
import type { IdGenerator } from '../ids.ts';
import type { Logger } from '../logger.ts';
import { createBatcher } from '../batch.ts';
import { WEBHOOK_TOPIC } from './webhook-family.ts';
import { describeError } from '../errors.ts';

/**
 * Transactional outbox: an event row is written in the same transaction as the state change that causes it,
 * then handled by workers. Rows that share an ordering key are handled strictly in id order.
 * Workers claim rows with FOR UPDATE SKIP LOCKED and a lease, then do slow work (HTTP) outside any
 * transaction: a crashed worker's lease lapses and another worker picks the row up.
 *
 * Each row is handled on its own, in a bounded pool: topics are grouped into classes with their own slots
 * (webhooks, mail, KYC document downloads, internal steps), webhooks are further limited per destination host, and a
 * slot that frees up is refilled at once. So a receiver that hangs until its timeout holds only its own host's few
 * slots, and mail or a refund completion never waits behind it. Settling (done / retry at / failed) is batched: the
 * outcomes that arrive together are written by one statement, so the bookkeeping of many rows costs one round trip.
 */
export interface OutboxRow<P = unknown> {
  id: bigint;
  topic: string;
  ordering_key: string | null;
  payload: P;
  attempts: number;
  next_attempt_at: bigint;
  created_at: bigint;
  /** Times the row was put back to PENDING after it ended (a webhook redelivery); 0 for the original. */
  round: number;
  /** Attempts its handler recorded in this round (the webhook engine keeps it with each attempt it logs). */
  round_attempts: number;
}

export type HandlerOutcome = (
  { status: 'done' } | { status: 'retry'; at: number; error: string } | { status: 'failed'; error: string }
) & {
  /**
   * The handler has already written this outcome to its row, in a statement of its own with its own bookkeeping (the
   * webhook engine, with the attempt it logs; see SETTLE_OUTCOME), so the worker does not write it again.
   */
  settled?: true;
};

/** An outcome as the outbox stores it: status, retry time (retries), error text (retries and failures). */
export function storedOutcome(o: HandlerOutcome): { status: string; retryAt: number | null; error: string | null } {
  if (o.status === 'done') return { status: 'DONE', retryAt: null, error: null };
  if (o.status === 'retry') return { status: 'PENDING', retryAt: o.at, error: o.error.slice(0, 1000) };
  return { status: 'FAILED', retryAt: null, error: o.error.slice(0, 1000) };
}

/**
 * The SET list that writes an outcome to outbox row `o` from a relation `v` (status, retry_at, settled_at, error), as
 * storedOutcome spells them; a retry keeps the row PENDING and its completed_at as it was. Shared with handlers that
 * settle their rows in their own statement.
 */
export const SETTLE_OUTCOME = `status = v.status, leased_until = 0, last_error = v.error,
  next_attempt_at = COALESCE(v.retry_at, o.next_attempt_at),
  completed_at = CASE WHEN v.status = 'PENDING' THEN o.completed_at ELSE v.settled_at END`;
/**
 * Handles one claimed row. `slot.release()` says the handler is done with the row's destination host (its request has
 * been answered) while it still has bookkeeping to do: the host's slot goes to the next row at once. Without the call
 * the slot is given back when the handler returns.
 */
export type OutboxHandler = (row: OutboxRow, slot?: { release(): void }) => Promise<HandlerOutcome>;

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
/** Outcomes written per settling statement at most, and statements at once (one: the batch forms behind it). */
const SETTLE_BATCH = { maxBatch: 128, maxInFlight: 1 };

interface OutboxWorker {
  /**
   * Claims what is due, handles it (claiming more as slots free up) and returns when every row it claimed is
   * settled and nothing more is due; returns how many rows it handled. A row retried during the call is not
   * handled again in the same call.
   */
  runOnce(): Promise<number>;
  /**
   * The continuous pool: claims rows whenever a slot is free (at once when a row settles, otherwise every
   * `idleMs`), each row handled and settled on its own. `stop()` stops claiming, gives back the leases of rows it had
   * queued for a busy host (never started), and waits for the rows being handled or settled.
   */
  start(opts: { idleMs: number }): { stop(): Promise<void>; kick(): void };
  /** Rows whose handler is at work, per class (for tests and metrics); queued and settling rows are not counted. */
  inFlight(): Record<string, number>;
}

/** Whoever claimed a row (a runOnce call or the continuous pool): told when it is launched; counts its queued rows. */
interface Owner {
  track(p: Promise<HandlerOutcome['status'] | 'unsettled'>, row: ClaimedRow): void;
  queued: number;
}

interface ClaimedRow extends OutboxRow {
  cls: number;
  host: string | null;
  /** Wall-clock ms at which this claim's lease lapses (the leased_until the claim wrote). */
  lease: number;
  owner: Owner;
}

/**
 * Rows a worker may hold claimed for a destination host beyond the ones in flight there, per in-flight slot: they wait
 * in the worker, in order, and go out as that host's slots free up, so one claim serves several rounds of a busy host
 * instead of one claim per round. A queued row holds no class slot (a hanging host's queue cannot starve other hosts);
 * it goes out only while at least half of its lease is left (see launchable), else it is left to lapse and be claimed
 * again.
 */
const AHEAD_PER_SLOT = 3;

/**
 * A row with an ordering key is due only when it is the first pending row of its key. Written as a min() over the key,
 * so that the plan is one descent of outbox_ordering (ordering_key, id) whatever the statistics say: a NOT EXISTS over
 * `id < o.id` let PGlite's cached generic plan (built without statistics, as PGlite runs no autovacuum) walk the
 * pending-id index instead, a scan per row.
 */
const firstOfKey = (o: string) =>
  `SELECT min(p.id) FROM outbox p WHERE p.ordering_key = ${o}.ordering_key AND p.status = 'PENDING'`;
const FIRST_OF_KEY = firstOfKey('o');

/**
 * The candidates of a claim: due rows, earliest due first (then by id), walked one index step at a time through
 * outbox_due_walk (next_attempt_at, id) so the walk stops as soon as the LIMIT is met. A flat `ORDER BY … LIMIT` got a
 * plan that reads and sorts every due row on both databases (the filters below make the planner expect one row, so a
 * sort looks free): 5–15 ms per claim with 2,000 due rows. Rows not yet due are never visited; rows passed over
 * (leased, of a saturated host, behind an earlier row of their key) cost one step each.
 */
const CANDIDATES = `WITH RECURSIVE walk AS (
    (SELECT o.id, o.topic, o.dest_host, o.ordering_key, o.next_attempt_at, o.leased_until FROM outbox o
      WHERE o.status = 'PENDING' AND o.next_attempt_at <= $1 ORDER BY o.next_attempt_at, o.id LIMIT 1)
    UNION ALL
    SELECT n.* FROM walk w CROSS JOIN LATERAL (
      SELECT o.id, o.topic, o.dest_host, o.ordering_key, o.next_attempt_at, o.leased_until FROM outbox o
      WHERE o.status = 'PENDING' AND o.next_attempt_at <= $1 AND (o.next_attempt_at, o.id) > (w.next_attempt_at, w.id)
      ORDER BY o.next_attempt_at, o.id LIMIT 1) n
  )
  SELECT w.id, w.topic, w.dest_host FROM walk w
  WHERE w.leased_until < $2 AND w.topic = ANY($3::text[]) AND (w.dest_host IS NULL OR w.dest_host <> ALL($4::text[]))
    AND w.id <> ALL($5::bigint[]) AND (w.ordering_key IS NULL OR w.id = (${firstOfKey('w')}))
  LIMIT $6`;

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
    .map((c) => {
      const perHost = c.perHost ?? 0;
      return {
        ...c,
        perHost,
        leaseMs: c.leaseMs ?? leaseMs,
        /**
         * Rows launched whose handler holds a class slot: until settled, or, for a row with a destination host, until
         * the handler is done with the host (its bookkeeping no longer holds a slot, see settling).
         */
        inflight: 0,
        /** Rows of a destination host done with it and not yet settled: held by the worker, but in no slot. */
        settling: 0,
        /** Rows claimed and waiting in a host queue (no class slot; only classes with a per-host limit queue). */
        queued: 0,
        /** Rows one worker holds at most: its slots, and with a per-host limit the rows queued ahead. */
        holdMax: perHost > 0 ? c.slots * (1 + AHEAD_PER_SLOT) : c.slots,
        /** Rows one worker holds at most per destination host (in flight there or queued for it). */
        hostHoldMax: perHost * (1 + AHEAD_PER_SLOT),
        /** The last claim found rows of this class, so more may be waiting; and rows settled since that claim. */
        more: true,
        freed: 0,
        /**
         * A claim walks due rows (on PGlite tens of µs per row), so refill once a few rows are done, not after each: a
         * quarter of the class's slots, or half of what one host may hold where rows are queued per host.
         */
        refillAfter: Math.max(1, Math.floor(perHost > 0 ? (perHost * (1 + AHEAD_PER_SLOT)) / 2 : c.slots / 4)),
      };
    });
  const topicList = classes.flatMap((c) => c.topics);
  /** Class index of each topic. */
  const topicIndex = new Map(classes.flatMap((c, i) => c.topics.map((t) => [t, i] as const)));
  /** Rows in flight per `${class}|${host}` (launched, handler not done). */
  const hostInflight = new Map<string, number>();
  /** Rows claimed and waiting for a slot of their host, per `${class}|${host}`, in claim order. */
  const hostQueue = new Map<string, ClaimedRow[]>();
  const held = (key: string) => (hostInflight.get(key) ?? 0) + (hostQueue.get(key)?.length ?? 0);
  /** A class by index; indexes come from topicIndex or a claimed row's cls, both made from this list. */
  const classAt = (i: number) => {
    const c = classes[i];
    if (!c) throw new Error(`no outbox class ${i}`);
    return c;
  };
  const freeSlots = () =>
    classes.map((c) => Math.max(0, Math.min(batch, c.holdMax - c.inflight - c.settling - c.queued)));
  const slotsListeners = new Set<() => void>();

  async function claim(exclude: Iterable<string>, owner: Owner): Promise<number> {
    const free = freeSlots();
    if (free.every((n) => n === 0)) return 0;
    const wall = Date.now();
    const now = clock.now();
    // 1. Candidates (see CANDIDATES), skipping hosts that already hold all this worker may send them, so a hanging
    //    host's backlog is passed over in the walk. The host is the URL's authority (host:port), kept in the dest_host
    //    column at enqueue so no payload is read.
    // By host alone: only the webhook class has a per-host limit (only webhook payloads carry a url). A second class
    // with one would need the class in this filter too.
    const saturatedHosts = [...new Set([...hostInflight.keys(), ...hostQueue.keys()])]
      .filter((k) => held(k) >= classAt(Number(k.split('|')[0]) - 1).hostHoldMax)
      .map((k) => k.slice(k.indexOf('|') + 1));
    const cand = await db.query<{ id: bigint; topic: string; dest_host: string | null }>(CANDIDATES, [
      now,
      wall,
      topicList,
      saturatedHosts,
      [...exclude],
      Math.max(64, 2 * free.reduce((a, b) => a + b, 0)),
    ]);
    // 2. The pick, in walk order: no more than a class may hold, nor a host (per class).
    const picked = new Map<bigint, { cls: number; host: string | null; order: number }>();
    const takenPerHost = new Map<string, number>();
    for (const c of cand.rows) {
      const ci = topicIndex.get(c.topic)!;
      const freeHere = free[ci] ?? 0;
      if (freeHere === 0) continue;
      const cls = classAt(ci);
      const host = cls.perHost > 0 ? c.dest_host : null;
      if (host !== null) {
        const key = `${ci + 1}|${host}`;
        if (held(key) + (takenPerHost.get(key) ?? 0) >= cls.hostHoldMax) continue;
        takenPerHost.set(key, (takenPerHost.get(key) ?? 0) + 1);
      }
      free[ci] = freeHere - 1;
      picked.set(BigInt(c.id), { cls: ci + 1, host, order: picked.size });
    }
    const found = new Set(cand.rows.map((c) => topicIndex.get(c.topic)!));
    classes.forEach((c, i) => {
      c.freed = 0;
      c.more = found.has(i);
    });
    if (picked.size === 0) return 0;
    // 3. The claim: the picked rows are locked with SKIP LOCKED and re-checked (status, due, lease, ordering) under the
    //    lock, so two workers never claim one row and a row never overtakes an earlier one of its ordering key.
    const ids = [...picked.keys()];
    const r = await db.query<OutboxRow & { leased_until: bigint }>(
      `UPDATE outbox u SET leased_until = $2 + ($4::bigint[])[array_position($5::text[], u.topic)],
        attempts = u.attempts + 1
       WHERE u.id IN (
         SELECT o.id FROM outbox o
         WHERE o.id = ANY($3::bigint[]) AND o.status = 'PENDING' AND o.next_attempt_at <= $1 AND o.leased_until < $2
           AND (o.ordering_key IS NULL OR o.id = (${FIRST_OF_KEY}))
         FOR UPDATE SKIP LOCKED)
       RETURNING u.id, u.topic, u.ordering_key, u.payload, u.attempts, u.next_attempt_at, u.created_at, u.round,
         u.round_attempts, u.leased_until`,
      [now, wall, ids, topicList.map((t) => classAt(topicIndex.get(t)!).leaseMs), topicList],
    );
    const rows = r.rows
      .map(({ leased_until, ...row }) => {
        const { order, ...where } = picked.get(BigInt(row.id))!;
        return { ...row, ...where, lease: Number(leased_until), owner, order };
      })
      .sort((a, b) => a.order - b.order);
    for (const { order: _order, ...row } of rows) {
      if (row.host === null) owner.track(launch(row), row);
      else {
        const key = `${row.cls}|${row.host}`;
        const q = hostQueue.get(key) ?? [];
        q.push(row);
        hostQueue.set(key, q);
        classAt(row.cls - 1).queued++;
        owner.queued++;
      }
    }
    pump();
    return rows.length;
  }

  /** A queued row goes out only while at least half of its lease is left, so its handling ends well within it. */
  const launchable = (row: ClaimedRow) => row.lease - Date.now() >= classAt(row.cls - 1).leaseMs / 2;

  /** Launches queued rows while their host and their class have free slots. */
  function pump() {
    for (const [key, q] of hostQueue) {
      const cls = classAt(Number(key.split('|')[0]) - 1);
      while (q.length > 0 && (hostInflight.get(key) ?? 0) < cls.perHost && cls.inflight < cls.slots) {
        const row = q.shift()!;
        cls.queued--;
        row.owner.queued--;
        // Too long in the queue (its host was slow): leave it to its lease, after which any worker claims it again.
        if (launchable(row)) row.owner.track(launch(row), row);
        else cls.freed++;
      }
      if (q.length === 0) hostQueue.delete(key);
    }
  }

  /**
   * Gives back the leases of queued rows owned by `owner` (a pool that stops), so they are claimable at once instead of
   * when their leases lapse; only where the lease is still this claim's.
   */
  async function release(owner: Owner) {
    const mine: ClaimedRow[] = [];
    for (const [key, q] of hostQueue) {
      const keep = q.filter((row) => row.owner !== owner || (mine.push(row), false));
      if (keep.length > 0) hostQueue.set(key, keep);
      else hostQueue.delete(key);
    }
    for (const row of mine) classAt(row.cls - 1).queued--;
    owner.queued -= mine.length;
    if (mine.length === 0) return;
    await db.query(
      `UPDATE outbox o SET leased_until = 0 FROM unnest($1::bigint[], $2::bigint[]) AS v(id, lease)
       WHERE o.id = v.id AND o.status = 'PENDING' AND o.leased_until = v.lease`,
      [mine.map((row) => String(row.id)), mine.map((row) => row.lease)],
    );
  }

  /** True when a claim now is worth its walk: a class that had rows waiting has freed enough (or holds none). */
  const refillWanted = () =>
    classes.some(
      (c) => c.more && (c.freed >= c.refillAfter || (c.inflight === 0 && c.settling === 0 && c.queued === 0)),
    );

  /**
   * Writes the outcomes of many rows in one statement (group commit: the outcomes that arrive while the previous batch
   * is being written go together). Until its batch commits a row stays PENDING under its lease, so a crash before then
   * leaves it to be claimed again when the lease lapses (at-least-once), and a later row of its ordering key stays
   * behind it. Ids are sorted so two workers' batches lock rows in the same order.
   */
  async function settleMany(items: { id: bigint; outcome: HandlerOutcome; at: number }[]): Promise<(void | Error)[]> {
    const sorted = [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const stored = sorted.map((x) => storedOutcome(x.outcome));
    await db.query(
      `UPDATE outbox o SET ${SETTLE_OUTCOME}
       FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])
         AS v(id, status, retry_at, settled_at, error)
       WHERE o.id = v.id`,
      [
        sorted.map((x) => String(x.id)),
        stored.map((x) => x.status),
        stored.map((x) => x.retryAt),
        sorted.map((x) => x.at),
        stored.map((x) => x.error),
      ],
    );
    return items.map(() => undefined);
  }
  /** A batch that fails is retried row by row, so one bad row (an unstorable error text) cannot hold up the others. */
  async function settleOrSplit(
    items: { id: bigint; outcome: HandlerOutcome; at: number }[],
  ): Promise<(void | Error)[]> {
    try {
      return await settleMany(items);
    } catch (e) {
      if (items.length === 1) return [e instanceof Error ? e : new Error(String(e))];
      return (await Promise.all(items.map((x) => settleOrSplit([x])))).flat();
    }
  }
  const settleBatch = createBatcher(settleOrSplit, SETTLE_BATCH);
  async function settle(row: OutboxRow, outcome: HandlerOutcome) {
    const r = await settleBatch({ id: row.id, outcome, at: clock.now() });
    if (r instanceof Error) throw r;
  }

  /**
   * Handles one claimed row in its slot and settles it; resolves to the outcome's status. Never rejects. A row's host
   * slot is given back as soon as its handler is done with the receiver, before its outcome is written: the next row
   * for that host can go out meanwhile (the row itself stays PENDING and leased until its outcome commits, so neither
   * it nor a later row of its ordering key can be claimed before that).
   */
  function launch(row: ClaimedRow): Promise<HandlerOutcome['status'] | 'unsettled'> {
    const cls = classAt(row.cls - 1);
    let hostKey = row.host === null ? null : `${row.cls}|${row.host}`;
    cls.inflight++;
    if (hostKey) hostInflight.set(hostKey, (hostInflight.get(hostKey) ?? 0) + 1);
    const releaseHost = () => {
      if (!hostKey) return;
      const n = (hostInflight.get(hostKey) ?? 1) - 1;
      if (n > 0) hostInflight.set(hostKey, n);
      else hostInflight.delete(hostKey);
      hostKey = null;
      // Done with the receiver: its bookkeeping waits outside the class's slots, which bound handlers at work.
      cls.inflight--;
      cls.settling++;
      cls.freed++;
      pump();
      notify();
    };
    const counted = hostKey !== null;
    return (async () => {
      try {
        let outcome: HandlerOutcome;
        try {
          const handler = handlers[row.topic];
          if (!handler) throw new Error(`no handler for topic ${row.topic}`);
          outcome = await handler(row, { release: releaseHost });
        } catch (e) {
          deps.logger?.error({ err: e, outboxId: String(row.id), topic: row.topic }, 'outbox handler threw');
          outcome = { status: 'retry', at: clock.now() + 15_000, error: describeError(e, 'message') };
        }
        releaseHost();
        if (!outcome.settled) await settle(row, outcome);
        return outcome.status;
      } catch (e) {
        // The row stays leased; when the lease lapses another claim picks it up (at-least-once).
        deps.logger?.error({ err: e, outboxId: String(row.id), topic: row.topic }, 'outbox row could not be settled');
        return 'unsettled' as const;
      } finally {
        releaseHost();
        // A row without a host slot frees its class slot only now.
        if (counted) cls.settling--;
        else {
          cls.inflight--;
          cls.freed++;
        }
        // A class slot is free: queued rows waiting for one may go.
        pump();
        notify();
      }
    })();
  }

  /** Counts slot events (a host slot or a class slot given back); listeners run on each. */
  let tick = 0;
  function notify() {
    tick++;
    for (const l of slotsListeners) l();
  }
  /** Resolves at the first slot event after `since` (the tick counter) at which `ready` holds. */
  const until = (since: number, ready: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (tick > since && ready()) {
          slotsListeners.delete(check);
          resolve();
        }
      };
      slotsListeners.add(check);
      check();
    });

  const yieldToEventLoop = () => new Promise((resolve) => setImmediate(resolve));

  return {
    async runOnce() {
      if (classes.length === 0) return 0;
      const running = new Set<Promise<unknown>>();
      const retried = new Set<string>();
      let count = 0;
      const owner: Owner = {
        queued: 0,
        track(launched, row) {
          count++;
          const p: Promise<void> = launched.then((status) => {
            if (status !== 'done' && status !== 'failed') retried.add(String(row.id));
            running.delete(p);
            notify();
          });
          running.add(p);
        },
      };
      const idle = () => running.size === 0 && owner.queued === 0;
      for (;;) {
        const since = tick;
        await claim(retried, owner);
        if (idle()) return count;
        // Freed slots and settled rows (which may have unblocked later rows of their ordering key) are worth a claim
        // once enough are free, and at the latest when everything in hand is settled.
        await until(since, () => idle() || refillWanted());
        await yieldToEventLoop();
      }
    },

    start(opts) {
      let stopped = false;
      let timer: NodeJS.Timeout | null = null;
      let filling: Promise<void> | null = null;
      let again = false;
      const running = new Set<Promise<unknown>>();
      const owner: Owner = {
        queued: 0,
        track(launched) {
          const p: Promise<void> = launched.then(() => {
            running.delete(p);
          });
          running.add(p);
        },
      };

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
              await claim([], owner);
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
          // Rows still queued are not started now: their leases are given back so any worker takes them at once.
          await release(owner).catch((e) =>
            deps.logger?.error({ err: e, loop: 'outbox' }, 'outbox could not release queued rows'),
          );
          await Promise.all(running);
        },
      };
    },

    inFlight() {
      return Object.fromEntries(classes.map((c) => [c.name, c.inflight]));
    },
  };
}
