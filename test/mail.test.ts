import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers.ts';

describe('mail: recorded in the transaction, delivered to the dev mailbox by the worker', () => {
  let t: TestApp;
  before(async () => (t = await startTestApp()));
  after(() => t.close());

  test('a message queued in a rolled-back transaction is never sent; a committed one reaches the dev mailbox', async () => {
    const { mailer, db } = t.app.services;
    await assert.rejects(
      db.tx(async (q) => {
        await mailer.send(q, { to: 'Ghost@Example.com', subject: 'never', text: 'rolled back' });
        throw new Error('rollback');
      }),
    );
    await db.tx((q) => mailer.send(q, { to: 'User@Example.com', subject: 'Your code', text: 'Code: 123456' }));
    assert.equal((await db.query(`SELECT status FROM mail_messages`)).rows[0].status, 'QUEUED');
    assert.ok(
      !JSON.stringify((await db.query(`SELECT body_sealed FROM mail_messages`)).rows).includes('123456'),
      'body encrypted at rest',
    );
    await t.app.outboxWorker.runOnce();
    const list = await (
      await fetch(`${t.baseUrl}/dev/mailbox.json?to=user@example.com`, {
        headers: { authorization: `Bearer ${t.adminToken}` },
      })
    ).json();
    assert.equal(list.length, 1);
    assert.equal(list[0].status, 'DEV_MAILBOX');
    assert.equal(list[0].text, 'Code: 123456');
    const page = await fetch(`${t.baseUrl}/dev/mailbox?token=${t.adminToken}`);
    assert.match(await page.text(), /Your code/);
    assert.equal((await fetch(`${t.baseUrl}/dev/mailbox`)).status, 401);
    assert.deepEqual(await mailer.list('ghost@example.com'), []);
  });
});
