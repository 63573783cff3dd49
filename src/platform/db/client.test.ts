import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DB_KINDS, openTestDb } from '../../../test/helpers.ts';
import type { Db } from './client.ts';
import { errorField } from '../errors.ts';

for (const kind of DB_KINDS) {
  describe(`database client (${kind})`, () => {
    let db: Db;
    let drop: () => Promise<void>;
    before(async () => {
      ({ db, drop } = await openTestDb(kind));
      await db.query(
        `CREATE TABLE client_probe (id bigint PRIMARY KEY, amount numeric(38, 8), doc jsonb, tags text[], ok boolean,
          note text)`,
      );
    });
    after(() => drop());

    test(
      'parameters and results keep their types: int8 as bigint, numeric as exact text, jsonb, arrays, ' +
        'booleans, nulls',
      async () => {
        const ins = await db.query(
          `INSERT INTO client_probe (id, amount, doc, tags, ok, note) VALUES ($1, $2, $3, $4, $5, $6)`,
          [9007199254740993n, '0.12345678', JSON.stringify({ a: [1, 'x'] }), ['p', 'q,r'], true, null],
        );
        assert.equal(ins.rowCount, 1);
        const r = await db.query(`SELECT id, amount, doc, tags, ok, note FROM client_probe WHERE id = $1`, [
          9007199254740993n,
        ]);
        assert.deepEqual(r.rows, [
          {
            id: 9007199254740993n,
            amount: '0.12345678',
            doc: { a: [1, 'x'] },
            tags: ['p', 'q,r'],
            ok: true,
            note: null,
          },
        ]);
        assert.equal(r.rowCount, 1);
      },
    );

    test('rowCount counts the rows each kind of statement touched', async () => {
      await db.query(`INSERT INTO client_probe (id) SELECT g FROM generate_series(100, 104) g WHERE g > $1`, [0]);
      assert.equal(
        (await db.query(`UPDATE client_probe SET note = $1 WHERE id BETWEEN 100 AND 104`, ['n'])).rowCount,
        5,
      );
      assert.equal((await db.query(`SELECT id FROM client_probe WHERE note = $1`, ['n'])).rowCount, 5);
      assert.equal((await db.query(`DELETE FROM client_probe WHERE id BETWEEN $1 AND 104`, [103])).rowCount, 2);
      assert.equal(
        (await db.query(`INSERT INTO client_probe (id) VALUES ($1) ON CONFLICT DO NOTHING`, [100])).rowCount,
        0,
      );
    });

    test('an error keeps its SQLSTATE, and the connection and transactions carry on after it', async () => {
      await db.query(`INSERT INTO client_probe (id) VALUES ($1)`, [1]);
      await assert.rejects(
        db.query(`INSERT INTO client_probe (id) VALUES ($1)`, [1]),
        (e) => errorField(e, 'code') === '23505',
      );
      assert.equal((await db.query(`SELECT count(*)::int AS n FROM client_probe WHERE id = $1`, [1])).rows[0].n, 1);
      await assert.rejects(
        db.tx(async (q) => {
          await q.query(`INSERT INTO client_probe (id) VALUES ($1)`, [2]);
          await q.query(`INSERT INTO client_probe (id) VALUES ($1)`, [1]);
        }),
        (e) => errorField(e, 'code') === '23505',
      );
      assert.equal(
        (await db.query(`SELECT count(*)::int AS n FROM client_probe WHERE id = $1`, [2])).rows[0].n,
        0,
        'the transaction rolled back',
      );
      const n = await db.tx(async (q) => {
        await q.query(`INSERT INTO client_probe (id) VALUES ($1)`, [3]);
        return (await q.query(`SELECT count(*)::int AS n FROM client_probe WHERE id = $1`, [3])).rows[0].n;
      });
      assert.equal(n, 1);
    });

    if (kind === 'pglite') {
      test('a statement with parameters is prepared once and reused, not parsed on every call', async () => {
        const sql = `SELECT $1::int + 1 AS next`;
        for (let i = 0; i < 3; i++) assert.equal((await db.query(sql, [i])).rows[0].next, i + 1);
        const prepared = await db.query(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1`, [
          sql,
        ]);
        assert.equal(prepared.rows[0].n, 1);
      });

      test(
        'the outer handle used inside a transaction fails at once instead of waiting for that transaction forever',
        { timeout: 10_000 },
        async () => {
          // Before the guard existed these calls never settled: give each 2 s.
          const inTime = async <T>(p: Promise<T>) => {
            let timer: NodeJS.Timeout | undefined;
            try {
              return await Promise.race([
                p,
                new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('hung')), 2_000))),
              ]);
            } finally {
              clearTimeout(timer);
            }
          };
          const trap = /inside db\.tx\(\) on PGlite/;
          // With and without parameters (prepared and simple paths), and a nested tx, also after an await inside fn.
          await assert.rejects(inTime(db.tx(async () => db.query(`SELECT 1 AS one`))), trap);
          await assert.rejects(
            inTime(
              db.tx(async (q) => {
                await q.query(`INSERT INTO client_probe (id) VALUES ($1)`, [500]);
                return db.query(`SELECT id FROM client_probe WHERE id = $1`, [500]);
              }),
            ),
            trap,
          );
          await assert.rejects(inTime(db.tx(async () => db.tx(async () => 1))), trap);
          assert.equal(
            (await db.query(`SELECT count(*)::int AS n FROM client_probe WHERE id = $1`, [500])).rows[0].n,
            0,
            'the failed transaction rolled back',
          );

          // A caller outside the transaction's context (another request) waits its turn and sees the commit.
          let release!: () => void;
          const gate = new Promise<void>((resolve) => (release = resolve));
          let started!: () => void;
          const inside = new Promise<void>((resolve) => (started = resolve));
          const tx = db.tx(async (q) => {
            await q.query(`INSERT INTO client_probe (id) VALUES ($1)`, [501]);
            started();
            await gate;
          });
          await inside;
          let answered = false;
          const other = db
            .query(`SELECT count(*)::int AS n FROM client_probe WHERE id = $1`, [501])
            .then((r) => ((answered = true), r.rows[0].n));
          await new Promise((resolve) => setTimeout(resolve, 50));
          assert.equal(answered, false, 'the other caller waits while the transaction is open');
          release();
          await inTime(tx);
          assert.equal(await inTime(other), 1);

          // Work a transaction started that runs after it committed uses the outer handle normally.
          let later!: Promise<number>;
          await db.tx(async () => {
            later = new Promise((resolve) => setTimeout(resolve, 20)).then(
              async () => (await db.query(`SELECT 2 AS two`)).rows[0].two,
            );
          });
          assert.equal(await inTime(later), 2);
        },
      );
    }
  });
}
