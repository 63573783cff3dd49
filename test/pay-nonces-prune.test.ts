import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPayAuth, NONCE_PRUNE_BATCH } from '../src/pay/auth.ts';
import { DB_KINDS, startTestApp, type TestApp } from './helpers.ts';

/**
 * Pay nonce pruning (issue 20): nonces older than twice the timestamp window are deleted, at most NONCE_PRUNE_BATCH
 * per statement (the worker loop calls again at once while a call deletes something), the oldest first; younger ones
 * stay, so a replay inside the window is still refused.
 */
for (const kind of DB_KINDS) {
  describe(`pay nonce pruning (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ kind });
    });
    after(() => t.close());

    test('a backlog is deleted in batches of NONCE_PRUNE_BATCH, oldest first; recent nonces stay', async () => {
      const windowMs = 60_000;
      const auth = createPayAuth({
        db: t.db,
        accounts: t.app.services.accounts,
        config: { timestampToleranceMs: windowMs, rejectNonceReplay: true },
      });
      const now = Date.now();
      const old = 2 * NONCE_PRUNE_BATCH + 500;
      // `old` nonces from 10 minutes ago down to just past the cut-off (2 windows), 300 from inside it.
      await t.db.query(
        `INSERT INTO pay_nonces (api_key, nonce, seen_at)
         SELECT 'k', 'old' || i, $1::bigint - 10 * 60000 + i FROM generate_series(1, $2::int) i
         UNION ALL SELECT 'k', 'new' || i, $1::bigint - i FROM generate_series(1, 300) i`,
        [now, old],
      );
      const left = async () =>
        (
          await t.db.query<{ old: string; recent: string; oldest: string | null }>(
            `SELECT count(*) FILTER (WHERE nonce LIKE 'old%') AS old, count(*) FILTER (WHERE nonce LIKE 'new%') AS recent,
               min(seen_at) FILTER (WHERE nonce LIKE 'old%') AS oldest FROM pay_nonces WHERE api_key = 'k'`,
          )
        ).rows[0]!;
      assert.equal(await auth.pruneNonces(), NONCE_PRUNE_BATCH);
      const first = await left();
      assert.equal(Number(first.old), old - NONCE_PRUNE_BATCH);
      assert.equal(Number(first.oldest), now - 10 * 60000 + NONCE_PRUNE_BATCH + 1, 'the oldest went first');
      assert.equal(await auth.pruneNonces(), NONCE_PRUNE_BATCH);
      assert.equal(await auth.pruneNonces(), 500);
      assert.equal(await auth.pruneNonces(), 0);
      const end = await left();
      assert.equal(Number(end.old), 0);
      assert.equal(Number(end.recent), 300);
    });
  });
}
