import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Queryable } from '../platform/db/client.ts';
import { AUTH_STATUSES, TRANSITIONS } from './state.ts';
import { transition } from './store.ts';

test('a TSP authorization move outside the table is refused before any SQL runs', async () => {
  for (const from of AUTH_STATUSES) {
    for (const to of AUTH_STATUSES) {
      const sql: string[] = [];
      const q: Queryable = { query: async (s) => (sql.push(s), { rows: [], rowCount: 0 }) };
      const run = transition(q, { id: '1', from, to, now: 0 });
      if (TRANSITIONS[from].includes(to)) {
        assert.deepEqual(await run, [], `${from} → ${to}`);
        assert.match(sql[0] ?? '', /UPDATE tsp_authorizations SET status = \$1/);
      } else {
        await assert.rejects(run, /illegal TSP authorization transition/, `${from} → ${to}`);
        assert.deepEqual(sql, [], `${from} → ${to} ran SQL`);
      }
    }
  }
});
