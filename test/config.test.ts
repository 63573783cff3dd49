import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';

/** Production refuses weak settings; a refused setting is one line naming the variable and the rule. */
const strong = () => ({
  RAMPART_MODE: 'production',
  ADMIN_TOKEN: randomBytes(24).toString('base64url'),
  SECRETS_KEY: randomBytes(32).toString('hex'),
  PUBLIC_URL: 'https://rampart.example',
  PRICE_FEED_URL: 'https://prices.example/api/v3/ticker/price',
});
const refused = (env: Record<string, string>, pattern: RegExp) =>
  assert.throws(
    () => loadConfig(env),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, pattern);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    },
  );

describe('production configuration', () => {
  test('strong secrets, an https PUBLIC_URL and a price feed start', () => {
    const c = loadConfig(strong());
    assert.equal(c.mode, 'production');
    assert.deepEqual(c.warnings, []);
    // `openssl rand -hex 16` style tokens pass too
    for (let i = 0; i < 2000; i++)
      assert.ok(loadConfig({ ...strong(), ADMIN_TOKEN: randomBytes(8).toString('hex') }).mode === 'production');
  });

  test('low-entropy ADMIN_TOKEN or SECRETS_KEY is refused', () => {
    refused({ ...strong(), ADMIN_TOKEN: 'a'.repeat(16) }, /^ADMIN_TOKEN is low-entropy .*openssl rand -hex 32$/);
    refused({ ...strong(), ADMIN_TOKEN: 'ab'.repeat(16) }, /^ADMIN_TOKEN is low-entropy/);
    refused(
      { ...strong(), ADMIN_TOKEN: 'aaaaaaaabbbbbbbbc' },
      /^ADMIN_TOKEN is low-entropy \(1\.\d bits per character\)/,
    );
    refused({ ...strong(), ADMIN_TOKEN: 'changeme'.repeat(2) }, /^ADMIN_TOKEN is low-entropy \(a repeated pattern\)/);
    refused({ ...strong(), ADMIN_TOKEN: 'Xy7#'.repeat(5) }, /^ADMIN_TOKEN is low-entropy \(a repeated pattern\)/);
    refused({ ...strong(), SECRETS_KEY: '0'.repeat(64) }, /^SECRETS_KEY is low-entropy/);
    refused({ ...strong(), SECRETS_KEY: 'ab'.repeat(32) }, /^SECRETS_KEY is low-entropy/);
    refused({ ...strong(), SECRETS_KEY: 'AbaB'.repeat(16) }, /^SECRETS_KEY is low-entropy/);
  });

  test('no PRICE_FEED_URL is refused: production never prices from the sandbox walk', () => {
    const { PRICE_FEED_URL: _, ...env } = strong();
    refused(env, /^production mode requires PRICE_FEED_URL/);
  });

  test('a non-https PUBLIC_URL is refused unless ALLOW_INSECURE_HTTP=1, and then warned about', () => {
    refused(
      { ...strong(), PUBLIC_URL: 'http://rampart.example' },
      /^PUBLIC_URL must be https:\/\/ in production .*ALLOW_INSECURE_HTTP=1/,
    );
    refused(
      { ...strong(), PUBLIC_URL: 'http://rampart.example', ALLOW_INSECURE_HTTP: '0' },
      /^PUBLIC_URL must be https/,
    );
    const c = loadConfig({ ...strong(), PUBLIC_URL: 'http://rampart.example', ALLOW_INSECURE_HTTP: '1' });
    assert.equal(c.warnings.length, 1);
    assert.match(
      c.warnings[0] ?? '',
      /^INSECURE: production is running with a non-https PUBLIC_URL \(http:\/\/rampart\.example\)/,
    );
  });

  test('sandbox keeps its defaults: no feed, http, generated secrets', () => {
    const c = loadConfig({});
    assert.equal(c.mode, 'sandbox');
    assert.deepEqual(c.warnings, []);
  });
});

describe('a refused setting at start is one line, not a stack trace', () => {
  const run = promisify(execFile);
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-config-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const start = async (env: Record<string, string>) => {
    const base: NodeJS.ProcessEnv = {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATABASE_URL: '',
    };
    for (const k of [
      'ADMIN_TOKEN',
      'SECRETS_KEY',
      'PUBLIC_URL',
      'PRICE_FEED_URL',
      'RAMPART_MODE',
      'ALLOW_INSECURE_HTTP',
    ])
      delete base[k];
    try {
      await run(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...base, ...env }, timeout: 60_000 });
      assert.fail('the server started');
    } catch (e: any) {
      assert.equal(e.code, 1, e.stderr);
      return String(e.stderr);
    }
  };

  test('a short ADMIN_TOKEN in sandbox mode', async () => {
    const stderr = await start({ ADMIN_TOKEN: 'short-token' });
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr, /^rampart: configuration refused: ADMIN_TOKEN must be at least 16 characters\n$/);
    assert.doesNotMatch(stderr, /\n\s+at /);
    assert.deepEqual(readdirSync(dataDir), [], 'nothing was created');
  });

  test('production with an all-zero SECRETS_KEY', async () => {
    const stderr = await start({ ...strong(), SECRETS_KEY: '0'.repeat(64) });
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr, /^rampart: configuration refused: SECRETS_KEY is low-entropy/);
  });
});
