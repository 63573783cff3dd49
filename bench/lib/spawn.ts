import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));

export interface RunningTarget {
  info: { baseUrl: string } & Record<string, string>;
  pid: number;
  stop(): Promise<void>;
}

/** Starts a bench target (see server.ts TARGETS) in a child process and waits for it to listen. */
export async function startTarget(name: string, kind: 'pglite' | 'pg'): Promise<RunningTarget> {
  // BENCH_NODE_ARGS: extra node flags for the server process, e.g. "--cpu-prof --cpu-prof-dir=bench/results/prof".
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', SERVER, name, kind], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  const info = await new Promise<RunningTarget['info']>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('READY '));
      if (line) resolve(JSON.parse(line.slice(6)));
    });
    exited.then((code) => reject(new Error(`bench target ${name}/${kind} exited with ${code} before it was ready`)));
  });
  return {
    info,
    pid: child.pid!,
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
