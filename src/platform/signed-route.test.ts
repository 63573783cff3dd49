import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { z } from 'zod';
import { createLogger } from './logger.ts';
import { signedRoutes, type SignedFamily } from './signed-route.ts';
import { coded, fieldPath, wireCodeOf } from './validation.ts';

/**
 * The signed-route lifecycle with a toy family (no database, no app): what each step answers, and that the family,
 * not the platform, decides every answer.
 */
type Failure = { code: string; detail: string };
type Caller = { who: string; body: unknown };

function toyFamily(log: string[]): SignedFamily<{ tag: string }, Caller, Failure> {
  return {
    tag: 'Toy',
    prefixes: ['/toy', '/alias'],
    methods: ['POST', 'GET'],
    documentedMethods: ['POST'],
    async authenticate(req, opts) {
      log.push(`auth:${opts.tag}`);
      if (req.headers['x-key'] !== 'k') return { ok: false, failure: { code: 'AUTH', detail: 'no key' } };
      return { ok: true, caller: { who: 'k', body: req.body ?? {} } };
    },
    body: (c) => c.body,
    invalid: (error) => {
      const issue = error.issues[0]!;
      return { code: wireCodeOf(issue) ?? 'PARAM', detail: `${fieldPath(issue.path)}: ${issue.message}` };
    },
    send: async (reply, answer, caller) =>
      reply.type('application/json').send({ ...answer, caller: caller?.who ?? null }),
    error: (e) =>
      e.statusCode !== undefined && e.statusCode < 500
        ? { code: 'CLIENT', detail: e.message }
        : { code: 'INTERNAL', detail: 'retry' },
    isInternal: (f) => f.code === 'INTERNAL',
    notFound: { prefixes: ['/toy'], failure: { code: 'NOPE', detail: 'unknown path' } },
  };
}

async function server() {
  const log: string[] = [];
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger('info', {
    write: (s: string) => {
      const j = JSON.parse(s);
      lines.push({ level: j.level, msg: j.msg });
    },
  });
  const app = Fastify();
  // As http.ts does for the signed prefixes: fastify keeps the body; the endpoint's schema is applied by signedRoutes.
  app.setValidatorCompiler(() => (value) => ({ value }));
  signedRoutes(app, toyFamily(log), logger, (route) => {
    route(
      {
        path: '/echo',
        summary: 'echo',
        schema: z.object({ name: z.string().max(3, coded('TOO_LONG', 'at most 3')) }),
        options: { tag: 'echo' },
      },
      async (input, caller) => ({ data: { name: input.name, by: caller.who } }),
    );
    route({ path: '/boom', summary: 'throws', schema: z.object({}), options: { tag: 'boom' } }, async () => {
      throw new Error('bug');
    });
  });
  await app.ready();
  const call = async (method: 'POST' | 'GET' | 'PUT', url: string, body?: unknown, key = 'k') => {
    const r = await app.inject({
      method,
      url,
      headers: { 'x-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.statusCode, json: r.json() as Record<string, unknown> };
  };
  return { app, call, log, lines };
}

describe('signedRoutes', () => {
  it('authenticates with the endpoint options, validates with its schema, then answers through the family', async () => {
    const { app, call, log } = await server();
    assert.deepEqual(await call('POST', '/toy/echo', { name: 'abc' }), {
      status: 200,
      json: { data: { name: 'abc', by: 'k' }, caller: 'k' },
    });
    assert.deepEqual(log, ['auth:echo']);
    // The alias prefix and a routed, undocumented method reach the same handler.
    assert.equal((await call('POST', '/alias/echo', { name: 'x' })).json.caller, 'k');
    assert.equal((await call('GET', '/toy/echo')).json.code, 'PARAM');
    await app.close();
  });

  it('a refused authentication answers the family failure without a caller, and the handler never runs', async () => {
    const { app, call } = await server();
    assert.deepEqual(await call('POST', '/toy/echo', { name: 'abc' }, 'wrong'), {
      status: 200,
      json: { code: 'AUTH', detail: 'no key', caller: null },
    });
    await app.close();
  });

  it('a body the schema refuses is family.invalid of the first issue, with its structured code', async () => {
    const { app, call } = await server();
    assert.deepEqual((await call('POST', '/toy/echo', { name: 'abcd' })).json, {
      code: 'TOO_LONG',
      detail: 'name: at most 3',
      caller: 'k',
    });
    assert.equal((await call('POST', '/toy/echo', {})).json.code, 'PARAM');
    await app.close();
  });

  it(
    'a thrown error is the family internal failure with HTTP 200 and an error line; a client error is an ' +
      'info line',
    async () => {
      const { app, call, lines } = await server();
      assert.deepEqual(await call('POST', '/toy/boom', {}), {
        status: 200,
        json: { code: 'INTERNAL', detail: 'retry', caller: null },
      });
      assert.ok(lines.some((l) => l.level === 50 && l.msg === 'Toy request failed'));
      const bad = await app.inject({
        method: 'POST',
        url: '/toy/echo',
        headers: { 'x-key': 'k', 'content-type': 'application/json' },
        payload: '{"name":',
      });
      assert.equal(bad.statusCode, 200);
      assert.equal(bad.json().code, 'CLIENT');
      assert.equal(lines.filter((l) => l.level === 50).length, 1, 'no error line for the client error');
      await app.close();
    },
  );

  it(
    'an unknown path or method under a notFound prefix is the family failure with HTTP 404; other prefixes ' +
      'get none',
    async () => {
      const { app, call } = await server();
      assert.deepEqual(await call('POST', '/toy/nope', {}), {
        status: 404,
        json: { code: 'NOPE', detail: 'unknown path', caller: null },
      });
      assert.equal((await call('PUT', '/toy/echo', {})).status, 404);
      assert.equal((await call('POST', '/alias/nope', {})).status, 404);
      assert.notEqual((await call('POST', '/alias/nope', {})).json.code, 'NOPE');
      await app.close();
    },
  );
});
