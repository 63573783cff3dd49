import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));

export interface RunningTarget {
  info: { baseUrl: string } & Record<string, string>;
  pid: number;
  /** Runs one of the target's commands inside its process (see server.ts) and returns its JSON result. */
  command<T = any>(name: string, arg?: unknown): Promise<T>;
  stop(): Promise<void>;
}

/** Starts a bench target (see server.ts TARGETS) in a child process and waits for it to listen. */
export async function startTarget(name: string, kind: 'pglite' | 'pg'): Promise<RunningTarget> {
  // BENCH_NODE_ARGS: extra node flags for the server process, e.g. "--cpu-prof --cpu-prof-dir=bench/results/prof".
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', SERVER, name, kind], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: process.env,
  });
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  const pending = new Map<number, { resolve(v: any): void; reject(e: Error): void }>();
  let nextId = 0;
  const info = await new Promise<RunningTarget['info']>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('READY ')) resolve(JSON.parse(line.slice(6)));
        const m = /^(RESULT|FAIL) (\d+) (.*)$/.exec(line);
        const waiter = m && pending.get(Number(m[2]));
        if (!m || !waiter) continue;
        pending.delete(Number(m[2]));
        const payload = m[3]!; // every group takes part in a match
        if (m[1] === 'RESULT') waiter.resolve(JSON.parse(payload));
        else waiter.reject(new Error(`bench target ${name}/${kind}: ${JSON.parse(payload)}`));
      }
    });
    exited.then((code) => {
      reject(new Error(`bench target ${name}/${kind} exited with ${code} before it was ready`));
      for (const w of pending.values()) w.reject(new Error(`bench target ${name}/${kind} exited with ${code}`));
    });
  });
  return {
    info,
    pid: child.pid!,
    command(cmd, arg = {}) {
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.stdin.write(`CMD ${id} ${cmd} ${JSON.stringify(arg)}\n`);
      });
    },
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A value the target reported at start (an API key, …) that this section needs; a target without it is misconfigured.
 */
export function targetInfo(t: RunningTarget, key: string): string {
  const v = t.info[key];
  if (v === undefined) throw new Error(`bench target did not report ${key}`);
  return v;
}
