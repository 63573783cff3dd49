import { Writable } from 'node:stream';
import { createLogger } from '../../src/platform/logger.ts';

/** A logger that keeps every line it writes, for tests asserting on levels (pino: 50 = error, 60 = fatal). */
export function capturingLogger(level = 'info') {
  const lines: { level: number; msg?: string; [k: string]: unknown }[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger(level, sink), lines, errors: () => lines.filter((l) => l.level >= 50) };
}
