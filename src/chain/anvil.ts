import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { errorField } from '../platform/errors.ts';

/**
 * The embedded EVM dev chain: the anvil binary from @foundry-rs/anvil, spawned directly on loopback.
 * With a state path the chain is loaded from it on start and dumped to it periodically and on exit,
 * so balances survive a restart.
 */

/**
 * The platform packages @foundry-rs/anvil ships (its const.mjs BINARY_DISTRIBUTION_PACKAGES), by process.platform and
 * process.arch.
 */
const ANVIL_PACKAGES: Record<string, Record<string, string>> = {
  darwin: { x64: '@foundry-rs/anvil-darwin-amd64', arm64: '@foundry-rs/anvil-darwin-arm64' },
  linux: { x64: '@foundry-rs/anvil-linux-amd64', arm64: '@foundry-rs/anvil-linux-arm64' },
  win32: { x64: '@foundry-rs/anvil-win32-amd64' },
};

export interface AnvilResolveEnv {
  platform: string;
  arch: string;
  /** Resolves a module specifier from the @foundry-rs/anvil package's own location (throws when absent). */
  resolve(specifier: string): string;
  exists(path: string): boolean;
  /** Directory of the installed @foundry-rs/anvil package. */
  packageDir: string;
}

function defaultResolveEnv(): AnvilResolveEnv {
  const packageJson = createRequire(import.meta.url).resolve('@foundry-rs/anvil/package.json');
  const fromPackage = createRequire(packageJson);
  return {
    platform: process.platform,
    arch: process.arch,
    resolve: (s) => fromPackage.resolve(s),
    exists: existsSync,
    packageDir: dirname(packageJson),
  };
}

/**
 * The anvil binary for this platform, found the way the package's own `bin.mjs` finds it: the optional platform
 * package (`@foundry-rs/anvil-<os>-<arch>/bin/anvil[.exe]`) resolved from @foundry-rs/anvil, else the binary its
 * postinstall downloads into the package when the optional dependency was skipped, else bin.mjs's `../dist` fallback.
 */
export function resolveAnvilBinary(env: AnvilResolveEnv = defaultResolveEnv()): string {
  const pkg = ANVIL_PACKAGES[env.platform]?.[env.arch];
  if (!pkg)
    throw new Error(
      `@foundry-rs/anvil ships no binary for ${env.platform}/${env.arch}; run anvil yourself and set CHAIN_RPC_URL`,
    );
  const binaryName = env.platform === 'win32' ? 'anvil.exe' : 'anvil';
  const candidates: string[] = [];
  try {
    candidates.push(env.resolve(`${pkg}/bin/${binaryName}`));
  } catch {
    // optional dependency not installed: try the postinstall download
  }
  candidates.push(join(env.packageDir, binaryName), join(env.packageDir, '..', 'dist', binaryName));
  const found = candidates.find((c) => env.exists(c));
  if (!found)
    throw new Error(
      `anvil binary not found for ${env.platform}/${env.arch}: install ${pkg} (npm install), or set CHAIN_RPC_URL`,
    );
  return found;
}

let anvilBin: string | null = null;
const anvilBinary = () => (anvilBin ??= resolveAnvilBinary());

/** anvil's well-known default dev mnemonic; its first account deploys and mints the sandbox test tokens. */
export const ANVIL_DEV_MNEMONIC = 'test test test test test test test test test test test junk';

export interface AnvilHandle {
  rpcUrl: string;
  chainId: number;
  pid: number;
  stop(): Promise<void>;
}

interface AnvilOptions {
  chainId: number;
  /** File the chain state is loaded from and dumped to. */
  statePath?: string;
  /** Interval mining in seconds; unset = a block per transaction (automine), tests mine more on demand. */
  blockTimeSec?: number;
  startTimeoutMs?: number;
}

async function freeLoopbackPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One small shell per platform process that outlives nothing: it reads anvil pids (and `-pid` once one has stopped)
 * on its stdin, and when that pipe closes, which happens however the platform process dies (SIGKILL included),
 * it stops every anvil still listed (SIGTERM so it dumps its state, SIGKILL after 5 s). It ignores the terminal's
 * signals so that a Ctrl-C cannot take it away before the platform's own shutdown.
 */
const WATCHDOG_SH = [
  "trap '' INT TERM HUP",
  'pids=" "',
  'while read -r p; do',
  '  case "$p" in',
  '    -*) pids=$(printf "%s" "$pids" | sed "s/ ${p#-} / /") ;;',
  '    *) pids="$pids$p " ;;',
  '  esac',
  'done',
  'set -- $pids',
  '[ $# -eq 0 ] && exit 0',
  'kill -TERM "$@" 2>/dev/null',
  'i=0',
  'while [ $i -lt 50 ]; do',
  '  alive=',
  '  for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done',
  '  [ -z "$alive" ] && exit 0',
  '  sleep 0.1',
  '  i=$((i + 1))',
  'done',
  'kill -KILL "$@" 2>/dev/null',
].join('\n');
let watchdog: ChildProcess | null = null;

function tellWatchdog(line: string) {
  if (process.platform === 'win32') return; // no sh: the pid file below still stops a leftover on the next start
  if (!watchdog || watchdog.exitCode !== null || watchdog.signalCode !== null) {
    const w = spawn('/bin/sh', ['-c', WATCHDOG_SH], { stdio: ['pipe', 'ignore', 'ignore'] });
    w.on('error', () => {});
    w.stdin!.on('error', () => {});
    w.unref();
    (w.stdin as unknown as { unref?: () => void }).unref?.();
    watchdog = w;
    // A fresh watchdog learns every anvil still running (the one being registered included).
    for (const c of running) if (c.pid) w.stdin!.write(`${c.pid}\n`);
    return;
  }
  watchdog.stdin!.write(`${line}\n`);
}

/**
 * The pid file beside a state file (`<state>.pid`): which platform process owns that state, and its anvil's pid and
 * URL once running. Two anvils must never write one state file: a live owner's chain is reused, not started again; a
 * dead owner's leftover anvil is stopped before a new one loads the state.
 */
interface StateLock {
  owner: number;
  since: number;
  pid?: number;
  rpcUrl?: string;
  chainId?: number;
}

const lockPathFor = (statePath: string) => `${statePath}.pid`;
/** State files this process holds (its pid in a lock is not enough: a container restart reuses pids). */
const claimedHere = new Set<string>();

function readLock(path: string): StateLock | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8'));
    return typeof v?.owner === 'number' ? v : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errorField(e, 'code') === 'EPERM';
  }
}

/** Whether `pid` is still the anvil of this state file (a pid is reused once its process is gone). */
function isAnvilOf(pid: number, statePath: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    if (process.platform === 'linux')
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(statePath);
    if (process.platform === 'win32')
      return /anvil/i.test(spawnSync('tasklist', ['/FI', `PID eq ${pid}`, '/NH'], { encoding: 'utf8' }).stdout ?? '');
    return (spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).stdout ?? '').includes(
      statePath,
    );
  } catch {
    return false;
  }
}

async function terminate(pid: number) {
  const gone = async (ms: number) => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (!isAlive(pid)) return true;
    return !isAlive(pid);
  };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await gone(5_000)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await gone(2_000);
}

/**
 * A short mutual exclusion between platform processes deciding about one state file (a directory is created
 * atomically).
 */
async function withMutex<T>(path: string, fn: () => T): Promise<T> {
  const dir = `${path}.lock`;
  for (;;) {
    try {
      mkdirSync(dir);
      break;
    } catch (e) {
      if (errorField(e, 'code') !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(dir).mtimeMs > 10_000) rmdirSync(dir); // left by a process killed inside the section
      } catch {
        // gone meanwhile
      }
      await sleep(20);
    }
  }
  try {
    return fn();
  } finally {
    rmdirSync(dir);
  }
}

function releaseLock(statePath: string, pid?: number) {
  const path = lockPathFor(statePath);
  const cur = readLock(path);
  if (cur && cur.owner === process.pid && (pid === undefined || cur.pid === pid)) {
    claimedHere.delete(statePath);
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
}

async function answers(rpcUrl: string): Promise<boolean> {
  try {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
      signal: AbortSignal.timeout(2_000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

/** Claims the state file for this process; or returns the chain a live platform process already runs on it. */
async function claimState(statePath: string, timeoutMs: number): Promise<AnvilHandle | null> {
  mkdirSync(dirname(statePath), { recursive: true });
  const path = lockPathFor(statePath);
  const deadline = Date.now() + timeoutMs + 15_000;
  for (;;) {
    type Found = { kind: 'claimed' } | { kind: 'leftover'; pid: number } | { kind: 'shared' | 'wait'; lock: StateLock };
    const found = await withMutex(path, (): Found => {
      const cur = readLock(path);
      const ownerLive = cur !== null && (cur.owner === process.pid ? claimedHere.has(statePath) : isAlive(cur.owner));
      if (cur && ownerLive) {
        if (cur.pid && cur.rpcUrl && isAnvilOf(cur.pid, statePath)) return { kind: 'shared', lock: cur };
        if (!cur.pid && Date.now() - cur.since < 60_000) return { kind: 'wait', lock: cur }; // its anvil is starting
      }
      if (cur?.pid && isAnvilOf(cur.pid, statePath)) return { kind: 'leftover', pid: cur.pid };
      writeFileSync(path, JSON.stringify({ owner: process.pid, since: Date.now() } satisfies StateLock));
      claimedHere.add(statePath);
      return { kind: 'claimed' };
    });
    if (found.kind === 'claimed') return null;
    if (found.kind === 'leftover') {
      await terminate(found.pid);
      continue;
    }
    if (found.kind === 'shared' && (await answers(found.lock.rpcUrl!))) {
      const { rpcUrl, pid, chainId } = found.lock;
      // Another live platform process (an API beside a worker on one DATA_DIR) runs this chain: use it, never stop it.
      return { rpcUrl: rpcUrl!, pid: pid!, chainId: chainId!, stop: async () => {} };
    }
    if (Date.now() > deadline) {
      throw new Error(
        `the chain state ${statePath} belongs to process ${found.lock.owner}, whose chain does not answer`,
      );
    }
    await sleep(100);
  }
}

export async function startAnvil(opts: AnvilOptions): Promise<AnvilHandle> {
  if (opts.statePath) {
    const shared = await claimState(opts.statePath, opts.startTimeoutMs ?? 15_000);
    if (shared) return shared;
  }
  // Binding can race with another process taking the port; retry on a fresh one.
  for (let attempt = 0; ; attempt++) {
    try {
      return await startOnce(opts, await freeLoopbackPort());
    } catch (e) {
      if (attempt >= 2) {
        if (opts.statePath) releaseLock(opts.statePath);
        throw e;
      }
    }
  }
}

async function startOnce(opts: AnvilOptions, port: number): Promise<AnvilHandle> {
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--chain-id',
    String(opts.chainId),
    '--accounts',
    '2',
    '--silent',
  ];
  if (opts.statePath) {
    mkdirSync(dirname(opts.statePath), { recursive: true });
    args.push('--state', opts.statePath, '--state-interval', '2');
  }
  if (opts.blockTimeSec) args.push('--block-time', String(opts.blockTimeSec));
  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-2000);
  });
  child.on('error', () => {}); // a failed spawn shows as an exit below
  running.add(child);
  if (child.pid) tellWatchdog(String(child.pid));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Never leave an orphaned chain behind when the platform process exits (SIGTERM: anvil dumps its state first).
    // A SIGKILL of the platform skips this hook: the watchdog covers that.
    process.on('exit', () => {
      for (const c of running) c.kill('SIGTERM');
    });
  }
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      if (child.pid) {
        tellWatchdog(`-${child.pid}`);
        if (opts.statePath) releaseLock(opts.statePath, child.pid);
      }
      resolve();
    }),
  );
  const rpcUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  let ready = false;
  while (!ready) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`anvil exited during start: ${stderr.trim()}`);
    try {
      const res = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
      });
      ready = res.ok;
    } catch {
      // not listening yet
    }
    if (!ready) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`anvil did not start within the timeout: ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  if (opts.statePath) {
    const lock: StateLock = { owner: process.pid, since: Date.now(), pid: child.pid!, rpcUrl, chainId: opts.chainId };
    writeFileSync(lockPathFor(opts.statePath), JSON.stringify(lock));
  }
  return {
    rpcUrl,
    chainId: opts.chainId,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM lets anvil dump its state; SIGKILL only if it does not exit in time.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
