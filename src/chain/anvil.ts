import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The embedded EVM dev chain: the anvil binary from @foundry-rs/anvil, spawned directly on loopback.
 * With a state path the chain is loaded from it on start and dumped to it periodically and on exit,
 * so balances survive a restart.
 */
export const ANVIL_BIN = join(dirname(fileURLToPath(import.meta.url)), '../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');

/** anvil's well-known default dev mnemonic; its first account deploys and mints the sandbox test tokens. */
export const ANVIL_DEV_MNEMONIC = 'test test test test test test test test test test test junk';

export interface AnvilHandle {
  rpcUrl: string;
  chainId: number;
  pid: number;
  stop(): Promise<void>;
}

export interface AnvilOptions {
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

export async function startAnvil(opts: AnvilOptions): Promise<AnvilHandle> {
  // Binding can race with another process taking the port; retry on a fresh one.
  for (let attempt = 0; ; attempt++) {
    try {
      return await startOnce(opts, await freeLoopbackPort());
    } catch (e) {
      if (attempt >= 2) throw e;
    }
  }
}

async function startOnce(opts: AnvilOptions, port: number): Promise<AnvilHandle> {
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(opts.chainId), '--accounts', '2', '--silent'];
  if (opts.statePath) {
    mkdirSync(dirname(opts.statePath), { recursive: true });
    args.push('--state', opts.statePath, '--state-interval', '2');
  }
  if (opts.blockTimeSec) args.push('--block-time', String(opts.blockTimeSec));
  const child = spawn(ANVIL_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Never leave an orphaned chain behind when the platform process exits.
    process.on('exit', () => { for (const c of running) c.kill('SIGKILL'); });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => { running.delete(child); resolve(); }));
  const rpcUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  let ready = false;
  while (!ready) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`anvil exited during start: ${stderr.trim()}`);
    try {
      const res = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' });
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
