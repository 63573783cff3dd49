import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite, protocol, type messages, type PGliteOptions } from '@electric-sql/pglite';
import pg from 'pg';

/**
 * One PostgreSQL dialect, two drivers: embedded PGlite by default, a pg Pool when DATABASE_URL is set.
 * int8 comes back as bigint, numeric as an exact decimal string, on both.
 */
/**
 * A row as the driver returns it when the caller does not name its columns with query<T>(): its shape is known only
 * to the SQL that selected it. Callers that read a row by column name get it as this type.
 */
// Row shapes live in SQL text, which TypeScript cannot read.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type DbRow = any;

export interface Queryable {
  query<T = DbRow>(sql: string, params?: unknown[]): Promise<{ rows: T[]; rowCount: number }>;
}
/** The row of a statement that always returns one (INSERT/UPDATE … RETURNING on a row known to exist, an aggregate). */
export function onlyRow<T>(result: { rows: T[] }): T {
  const row = result.rows[0];
  if (row === undefined) throw new Error('the statement returned no row');
  return row;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'pg';
  /** Runs fn in one transaction; retried on serialization failure or deadlock. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /**
   * Calls `onMessage` for each `pg_notify(channel, payload)` committed by any process, and `onLost` whenever the
   * listening connection is down (messages may have been missed; it reconnects by itself). PGlite is one process,
   * where the notifying code acts directly: listening there does nothing. Returns a function that stops listening.
   */
  listen(
    channel: string,
    onMessage: (payload: string) => void,
    onLost?: (down: boolean) => void,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

const toParam = (v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
const params = (p?: unknown[]) => (p ? p.map(toParam) : undefined);

/** Thrown when code inside `db.tx(fn)` uses the outer `db` instead of fn's `q` (see wrapPglite). */
class OuterHandleInTransactionError extends Error {
  readonly code = 'OUTER_HANDLE_IN_TRANSACTION';
  constructor(call: 'query' | 'tx') {
    super(
      `db.${call}() called inside db.tx() on PGlite, a single connection: it would wait for its own transaction ` +
        `forever. ` +
        'Inside a transaction use the q it was given (pass it down as a parameter).',
    );
  }
}

export function wrapPglite(lite: PGlite): Db {
  const statements = preparedStatements(lite);
  const q =
    (conn: { query: PGlite['query'] }, inTx: boolean): Queryable['query'] =>
    async <T>(sql: string, p?: unknown[]) => {
      if (p && statements.accepts(sql, p)) return statements.run<T>(sql, p, inTx);
      const r = await conn.query<T>(sql, params(p));
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    };
  /**
   * The transaction the current async context runs inside, while it is open. The outer handle waits for the
   * connection's mutex, which that transaction holds until fn returns: called from fn's own context it deadlocks as
   * soon as fn waits for it, so it fails at once instead. Other contexts (concurrent requests, workers) wait their turn
   * as before,
   * and so does work fn started that runs after the transaction ended.
   */
  const current = new AsyncLocalStorage<{ open: boolean }>();
  const insideTx = () => current.getStore()?.open === true;
  const query = q(lite, false);
  return {
    kind: 'pglite',
    query: (sql, p) => (insideTx() ? Promise.reject(new OuterHandleInTransactionError('query')) : query(sql, p)),
    // PGlite is one connection behind a mutex, so transactions are already serial.
    tx: (fn) => {
      if (insideTx()) return Promise.reject(new OuterHandleInTransactionError('tx'));
      return lite.transaction(async (t) => {
        const state = { open: true };
        try {
          return await current.run(state, () => fn({ query: q(t, true) }));
        } finally {
          state.open = false;
        }
      });
    },
    listen: async () => async () => {},
    close: () => lite.close(),
  };
}

const MAX_PREPARED = 1000;

/**
 * PGlite's query() sends every statement as an unnamed one: parse, describe, bind (which plans), describe, execute
 * and sync, six calls into the WASM backend, then copies its whole parser table to decode the result. Statements
 * with parameters run here as named prepared statements instead, as the pg driver runs them: parsed and described
 * once, then each call is one Bind + Execute + Sync message, and PostgreSQL may reuse the plan.
 * Statements without parameters (DDL, BEGIN, migrations) and any beyond MAX_PREPARED distinct texts use query().
 */
function preparedStatements(lite: PGlite) {
  type Statement = { name: string; paramTypes: number[]; fields: { name: string; dataTypeID: number }[] };
  const cache = new Map<string, Statement>();
  const { serialize } = protocol;
  const concat = (parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
    let at = 0;
    for (const x of parts) {
      out.set(x, at);
      at += x.length;
    }
    return out;
  };
  const exec = async (parts: Uint8Array[]) =>
    (await lite.execProtocol(concat([...parts, serialize.sync()]), { syncToFs: false })).messages;

  async function prepare(sql: string): Promise<Statement> {
    const name = `s${cache.size}`;
    const messages = await exec([serialize.parse({ name, text: sql }), serialize.describe({ type: 'S', name })]);
    const described = messages.find((m) => m.name === 'parameterDescription') as
      messages.ParameterDescriptionMessage | undefined;
    const paramTypes: number[] = described?.dataTypeIDs ?? [];
    const rowDescription = messages.find((m) => m.name === 'rowDescription') as
      messages.RowDescriptionMessage | undefined;
    const fields = (rowDescription?.fields ?? []).map((f) => ({ name: f.name, dataTypeID: f.dataTypeID }));
    const st = { name, paramTypes, fields };
    cache.set(sql, st);
    return st;
  }

  async function runPrepared<T>(sql: string, p: unknown[]): Promise<{ rows: T[]; rowCount: number }> {
    const st = cache.get(sql) ?? (await prepare(sql));
    const values = p.map((v, i) => {
      if (v === null || v === undefined) return null;
      const type = st.paramTypes[i];
      const serializer = type === undefined ? undefined : lite.serializers[type];
      return serializer ? serializer(toParam(v)) : String(v);
    });
    const messages = await exec([serialize.bind({ statement: st.name, values }), serialize.execute({})]);
    const rows: Record<string, unknown>[] = [];
    let rowCount = 0;
    for (const m of messages) {
      if (m.name === 'dataRow') {
        const data = m as messages.DataRowMessage;
        const row: Record<string, unknown> = {};
        for (const [i, f] of st.fields.entries()) {
          // A data row has one value per described column.
          const raw = data.fields[i] as string | null;
          const parser = raw === null ? undefined : lite.parsers[f.dataTypeID];
          row[f.name] = raw === null ? null : parser ? parser(raw, f.dataTypeID) : raw;
        }
        rows.push(row);
      } else if (m.name === 'commandComplete') {
        // Like pg: "INSERT 0 n", "UPDATE n", "SELECT n", … (PGlite's own query() reports 0 for SELECT).
        const n = Number((m as messages.CommandCompleteMessage).text.split(' ').pop());
        rowCount = Number.isFinite(n) ? n : 0;
      }
    }
    // The columns are the ones the statement selected; T is the caller's name for them (as with PGlite's query<T>).
    return { rows: rows as T[], rowCount };
  }

  const internals = lite as unknown as {
    _runExclusiveQuery<T>(fn: () => Promise<T>): Promise<T>;
    _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>;
  };
  return {
    accepts: (sql: string, p?: unknown[]) => !!p && p.length > 0 && (cache.has(sql) || cache.size < MAX_PREPARED),
    /**
     * Takes the same mutexes as PGlite's query(): the transaction mutex unless already inside a transaction, then the
     * query mutex.
     */
    run<T>(sql: string, p: unknown[], inTx: boolean): Promise<{ rows: T[]; rowCount: number }> {
      const once = () =>
        internals._runExclusiveQuery(async () => {
          const r = await runPrepared<T>(sql, p);
          if (!inTx) await lite.syncToFs();
          return r;
        });
      return inTx ? once() : internals._runExclusiveTransaction(once);
    },
  };
}

const PGLITE_PARSERS = {
  20: (v: string) => BigInt(v),
  1700: (v: string) => v,
};

export async function openPglite(dataDir?: string, loadDataDir?: Blob | File): Promise<Db> {
  const options: PGliteOptions = { dataDir, parsers: PGLITE_PARSERS, loadDataDir };
  const lite = new PGlite(options);
  await lite.waitReady;
  return wrapPglite(lite);
}

const RETRYABLE = new Set(['40001', '40P01']);
/** The SQLSTATE (or Node error code) of a thrown value, if it has one. */
const errorCode = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;

export function openPg(url: string, opts: { max?: number; searchPath?: string } = {}): Db {
  const types: pg.CustomTypesConfig = {
    getTypeParser: (oid, format) => {
      if (oid === 20) return (v: string) => BigInt(v);
      if (oid === 1700) return (v: string) => v;
      return pg.types.getTypeParser(oid, format);
    },
  };
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 20,
    types,
    options: opts.searchPath ? `-c search_path=${opts.searchPath}` : undefined,
  });
  pool.on('error', () => {}); // idle client errors surface on the next query instead
  // Statements with parameters run as named prepared statements: each connection parses and plans them once,
  // and later calls send only the parameters (the hot ones are long: create-order's insert has 31).
  const names = new Map<string, string>();
  const statement = (sql: string, p?: unknown[]) => {
    if (!p || p.length === 0) return { text: sql };
    let name = names.get(sql);
    if (!name) names.set(sql, (name = `s${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`));
    return { name, text: sql, values: params(p) };
  };
  const query: Queryable['query'] = async (sql, p) => {
    const r = await pool.query(statement(sql, p));
    return { rows: r.rows, rowCount: r.rowCount ?? 0 };
  };
  return {
    kind: 'pg',
    query,
    async tx(fn) {
      for (let attempt = 0; ; attempt++) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const result = await fn({
            query: async (sql, p) => {
              const r = await client.query(statement(sql, p));
              return { rows: r.rows, rowCount: r.rowCount ?? 0 };
            },
          });
          await client.query('COMMIT');
          return result;
        } catch (e) {
          await client.query('ROLLBACK').catch(() => {});
          if (RETRYABLE.has(errorCode(e) ?? '') && attempt < 5) continue;
          throw e;
        } finally {
          client.release();
        }
      }
    },
    async listen(channel, onMessage, onLost) {
      if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`bad channel name ${channel}`);
      let stopped = false;
      let client: pg.Client | null = null;
      let retry: NodeJS.Timeout | null = null;
      const connect = async (): Promise<void> => {
        const c = new pg.Client({
          connectionString: url,
          types,
          options: opts.searchPath ? `-c search_path=${opts.searchPath}` : undefined,
        });
        c.on('notification', (m) => {
          if (m.channel === channel) onMessage(m.payload ?? '');
        });
        // A dropped connection may have missed messages: say so, and come back.
        c.on('error', () => lost(c));
        c.on('end', () => lost(c));
        await c.connect();
        await c.query(`LISTEN ${channel}`);
        client = c;
        onLost?.(false);
      };
      const lost = (c: pg.Client) => {
        if (stopped || client !== c) return;
        client = null;
        onLost?.(true);
        c.end().catch(() => {});
        schedule();
      };
      const schedule = () => {
        if (stopped || retry) return;
        retry = setTimeout(() => {
          retry = null;
          connect().catch(() => schedule());
        }, 1000);
        retry.unref();
      };
      await connect();
      return async () => {
        stopped = true;
        if (retry) clearTimeout(retry);
        await (client as pg.Client | null)?.end().catch(() => {});
      };
    },
    close: () => pool.end(),
  };
}

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Applies migrations/*.sql in name order, once each, under an advisory lock on PostgreSQL. */
export async function migrate(db: Db): Promise<string[]> {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  return db.tx(async (q) => {
    if (db.kind === 'pg') await q.query('SELECT pg_advisory_xact_lock(727274)');
    await q.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL ' +
        'DEFAULT now())',
    );
    const done = new Set(
      (await q.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name),
    );
    const applied: string[] = [];
    for (const f of files) {
      if (done.has(f)) continue;
      const sql = readFileSync(join(MIGRATIONS_DIR, f), 'utf8');
      for (const stmt of splitSql(sql)) await q.query(stmt);
      await q.query('INSERT INTO schema_migrations (name) VALUES ($1)', [f]);
      applied.push(f);
    }
    return applied;
  });
}

/**
 * Statements are separated by lines ending in ';' (migrations contain no procedural bodies). Comments are
 * removed first, so a trailing `-- why` after a statement's ';' does not hide the separator.
 */
function splitSql(sql: string): string[] {
  return sql
    .replace(/--[^\n]*/g, '')
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function openDatabase(opts: { url?: string; dataDir?: string }): Promise<Db> {
  const db = opts.url ? openPg(opts.url) : await openPglite(opts.dataDir);
  await migrate(db);
  return db;
}
