import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DB_KINDS, openTestDb } from '../../../test/helpers.ts';
import type { Db } from './client.ts';

for (const kind of DB_KINDS) {
  describe(`database client (${kind})`, () => {
    let db: Db;
    let drop: () => Promise<void>;
    before(async () => {
      ({ db, drop } = await openTestDb(kind));
      await db.query(`CREATE TABLE client_probe (id bigint PRIMARY KEY, amount numeric(38, 8), doc jsonb, tags text[], ok boolean, note text)`);
    });
    after(() => drop());

    test('parameters and results keep their types: int8 as bigint, numeric as exact text, jsonb, arrays, booleans, nulls', async () => {
      const ins = await db.query(`INSERT INTO client_probe (id, amount, doc, tags, ok, note) VALUES ($1, $2, $3, $4, $5, $6)`,
        [9007199254740993n, '0.12345678', JSON.stringify({ a: [1, 'x'] }), ['p', 'q,r'], true, null]);
      assert.equal(ins.rowCount, 1);
      const r = await db.query(`SELECT id, amount, doc, tags, ok, note FROM client_probe WHERE id = $1`, [9007199254740993n]);
      assert.deepEqual(r.rows, [{ id: 9007199254740993n, amount: '0.12345678', doc: { a: [1, 'x'] }, tags: ['p', 'q,r'], ok: true, note: null }]);
      assert.equal(r.rowCount, 1);
    });

    test('rowCount counts the rows each kind of statement touched', async () => {
      await db.query(`INSERT INTO client_probe (id) SELECT g FROM generate_series(100, 104) g WHERE g > $1`, [0]);
      assert.equal((await db.query(`UPDATE client_probe SET note = $1 WHERE id BETWEEN 100 AND 104`, ['n'])).rowCount, 5);
      assert.equal((await db.query(`SELECT id FROM client_probe WHERE note = $1`, ['n'])).rowCount, 5);
      assert.equal((await db.query(`DELETE FROM client_probe WHERE id BETWEEN $1 AND 104`, [103])).rowCount, 2);
      assert.equal((await db.query(`INSERT INTO client_probe (id) VALUES ($1) ON CONFLICT DO NOTHING`, [100])).rowCount, 0);
    });

    test('an error keeps its SQLSTATE, and the connection and transactions carry on after it', async () => {
      await db.query(`INSERT INTO client_probe (id) VALUES ($1)`, [1]);
      await assert.rejects(db.query(`INSERT INTO client_probe (id) VALUES ($1)`, [1]), (e: any) => e.code === '23505');
      assert.equal((await db.query(`SELECT count(*)::int AS n FROM client_probe WHERE id = $1`, [1])).rows[0].n, 1);
      await assert.rejects(db.tx(async (q) => {
        await q.query(`INSERT INTO client_probe (id) VALUES ($1)`, [2]);
        await q.query(`INSERT INTO client_probe (id) VALUES ($1)`, [1]);
      }), (e: any) => e.code === '23505');
      assert.equal((await db.query(`SELECT count(*)::int AS n FROM client_probe WHERE id = $1`, [2])).rows[0].n, 0, 'the transaction rolled back');
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
        const prepared = await db.query(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1`, [sql]);
        assert.equal(prepared.rows[0].n, 1);
      });
    }
  });
}
