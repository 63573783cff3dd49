import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { freePort } from './helpers.ts';
import { formBrowser } from './support/form-browser.ts';

/**
 * The README's "Try it" commands, pasted as a reader would: the shell blocks of that section, in order, run by bash
 * at the root of a fresh checkout (a directory linking this one's sources, with its own `data/`) while `npm start`
 * runs there. Only the port is changed (a free one instead of 8080). A command that drifts from the code fails here.
 */
const run = promisify(execFile);
const repo = new URL('..', import.meta.url).pathname;
const checkout = mkdtempSync(join(tmpdir(), 'rampart-try-'));
for (const entry of ['package.json', 'node_modules', 'bin', 'src', 'tsconfig.json'])
  symlinkSync(join(repo, entry), join(checkout, entry));
let server: ChildProcess | null = null;
after(() => {
  server?.kill('SIGKILL');
  rmSync(checkout, { recursive: true, force: true });
});

function tryItBlocks(readme: string): string[] {
  const start = readme.indexOf('\n## Try it\n');
  assert.ok(start >= 0, 'the README has a "Try it" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

test("the README's Try it commands work against a freshly started server", { timeout: 180_000 }, async () => {
  const blocks = tryItBlocks(readFileSync(join(repo, 'README.md'), 'utf8'));
  assert.ok(blocks.length >= 4, 'setup, checkout and dashboard, TSP, Connect partner, KYC');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', RAMPART_MODE: 'sandbox' };
  // A fresh checkout's defaults: ./data, the embedded database, PUBLIC_URL from the port.
  for (const name of ['DATA_DIR', 'DATABASE_URL', 'PUBLIC_URL', 'ADMIN_TOKEN', 'SECRETS_KEY']) delete env[name];

  let out = '';
  server = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: checkout, env, stdio: 'pipe' });
  server.stdout!.on('data', (d) => (out += d));
  server.stderr!.on('data', (d) => (out += d));
  for (const deadline = Date.now() + 60_000; !out.includes('demo accounts');) {
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const script = blocks.join('\n').replaceAll('localhost:8080', `localhost:${port}`);
  const res = await run('bash', ['-c', `set -eo pipefail\n${script}`], {
    cwd: checkout,
    env,
    maxBuffer: 10 * 1024 * 1024,
  }).catch((e) => {
    throw new Error(`the Try it commands failed (${e.code}):\n${e.stdout}\n${e.stderr}`);
  });
  const stdout = res.stdout;
  const creds = JSON.parse(readFileSync(join(checkout, 'data', 'demo-credentials.json'), 'utf8'));

  // The checkout: an order, its page, paid by the sandbox helper as the demo payer.
  assert.match(stdout, new RegExp(`http://localhost:${port}/checkout/\\S+`));
  assert.match(stdout, /"status":"PAID"/);
  // The dashboard login printed is one that works.
  assert.ok(stdout.includes(`${creds.dashboard.loginUrl}\n${creds.dashboard.email}\n${creds.dashboard.password}\n`));
  const browser = formBrowser(`http://127.0.0.1:${port}`);
  const login = await browser.submit('/en/dashboard/login', '/en/dashboard/login', {
    email: creds.dashboard.email,
    password: creds.dashboard.password,
  });
  assert.equal(login.status, 303, 'the printed dashboard login works');
  // The TSP: the merchant agreed, and the TSP's order for it was created.
  assert.match(stdout, /"status":"AUTHORIZED"/);
  const tspOrder = stdout.split('\n').filter((l) => l.includes('"prepayId"'))[1];
  assert.match(tspOrder ?? '', /"status":"SUCCESS"/, 'the TSP created an order on behalf of the demo merchant');
  // Connect: the demo partner's signed call, a new partner onboarded with --ip, and its own signed call; then the
  // current generation's trading pairs and a pre-order with its landing link.
  assert.equal(stdout.match(/"success":true/g)?.length, 4, stdout);
  assert.match(stdout, /^my_wallet_test$/m);
  assert.match(stdout, /"code":"000000","message":"success","data":\{"fiatCurrencies":\[/);
  assert.match(
    stdout,
    new RegExp(`"link":"http://localhost:${port}/uni-qr/ccnt\\?token=[0-9a-f]{40}","linkExpireTime":\\d+`),
  );
  // KYC: the sandbox helper's decision.
  assert.match(stdout, /"kycStatus":"PASS"/);

  // Everything the commands and the seed wrote stays out of git.
  const written = ['data/demo-credentials.json', 'data/demo-partner-key.pem', 'data/admin-token', 'data/my-wallet.pem'];
  const ignored = await run('git', ['check-ignore', ...written], { cwd: repo });
  assert.deepEqual(ignored.stdout.trim().split('\n'), written);
});
