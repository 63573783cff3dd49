import type { Clock } from '../clock.ts';
import type { Db, Queryable } from '../db/client.ts';
import type { IdGenerator } from '../ids.ts';
import type { Logger } from '../logger.ts';

/**
 * Transactional outbox: an event row is written in the same transaction as the state change that causes it,
 * then handled by workers. Rows that share an ordering key are handled strictly in id order.
 * Workers claim rows with FOR UPDATE SKIP LOCKED and a lease, then do slow work (HTTP) outside any
 * transaction: a crashed worker's lease lapses and another worker picks the row up.
 */
export interface OutboxRow<P = any> {
  id: bigint;
  topic: string;
  ordering_key: string | null;
  payload: P;
  attempts: number;
  next_attempt_at: bigint;
  created_at: bigint;
}

export type HandlerOutcome = { status: 'done' } | { status: 'retry'; at: number; error: string } | { status: 'failed'; error: string };
export type OutboxHandler = (row: OutboxRow) => Promise<HandlerOutcome>;

export interface Outbox {
  enqueue(q: Queryable, e: { topic: string; orderingKey?: string; payload: unknown; at?: number }): Promise<bigint>;
}

export function createOutbox(deps: { clock: Clock; ids: IdGenerator }): Outbox {
  return {
    async enqueue(q, e) {
      const id = deps.ids.next();
      const now = deps.clock.now();
      await q.query(
        `INSERT INTO outbox (id, topic, ordering_key, payload, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [id, e.topic, e.orderingKey ?? null, JSON.stringify(e.payload), e.at ?? now, now],
      );
      return id;
    },
  };
}

export interface OutboxWorker {
  /** Claims and handles every due row once; returns how many rows were handled. */
  runOnce(): Promise<number>;
}

export function createOutboxWorker(deps: {
  db: Db;
  clock: Clock;
  handlers: Record<string, OutboxHandler>;
  logger?: Logger;
  batchSize?: number;
  leaseMs?: number;
}): OutboxWorker {
  const { db, clock, handlers } = deps;
  const topics = Object.keys(handlers);
  const batch = deps.batchSize ?? 50;
  const leaseMs = deps.leaseMs ?? 60_000;

  async function claim(): Promise<OutboxRow[]> {
    const wall = Date.now();
    const r = await db.query<OutboxRow>(
      `UPDATE outbox SET leased_until = $3, attempts = attempts + 1
       WHERE id IN (
         SELECT o.id FROM outbox o
         WHERE o.status = 'PENDING' AND o.next_attempt_at <= $1 AND o.leased_until < $2 AND o.topic = ANY($5::text[])
           AND (o.ordering_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM outbox p WHERE p.ordering_key = o.ordering_key AND p.status = 'PENDING' AND p.id < o.id))
         ORDER BY o.id LIMIT $4
         FOR UPDATE SKIP LOCKED)
       RETURNING id, topic, ordering_key, payload, attempts, next_attempt_at, created_at`,
      [clock.now(), wall, wall + leaseMs, batch, topics],
    );
    return r.rows.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  async function settle(row: OutboxRow, outcome: HandlerOutcome) {
    if (outcome.status === 'done') {
      await db.query(`UPDATE outbox SET status = 'DONE', completed_at = $2, leased_until = 0, last_error = NULL WHERE id = $1`, [row.id, clock.now()]);
    } else if (outcome.status === 'retry') {
      await db.query(`UPDATE outbox SET next_attempt_at = $2, leased_until = 0, last_error = $3 WHERE id = $1`, [row.id, outcome.at, outcome.error.slice(0, 1000)]);
    } else {
      await db.query(`UPDATE outbox SET status = 'FAILED', completed_at = $2, leased_until = 0, last_error = $3 WHERE id = $1`, [row.id, clock.now(), outcome.error.slice(0, 1000)]);
    }
  }

  return {
    async runOnce() {
      if (topics.length === 0) return 0;
      const rows = await claim();
      await Promise.all(
        rows.map(async (row) => {
          let outcome: HandlerOutcome;
          try {
            outcome = await handlers[row.topic](row);
          } catch (e: any) {
            deps.logger?.error({ err: e, outboxId: String(row.id), topic: row.topic }, 'outbox handler threw');
            outcome = { status: 'retry', at: clock.now() + 15_000, error: String(e?.message ?? e) };
          }
          await settle(row, outcome);
        }),
      );
      return rows.length;
    },
  };
}
