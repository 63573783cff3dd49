import type { Logger } from './logger.ts';

/**
 * A background loop: runs `tick` repeatedly, immediately again while it reports work, otherwise
 * after `idleMs`. Errors are logged and never stop the loop.
 */
export interface Loop {
  stop(): Promise<void>;
  kick(): void;
}

export function startLoop(name: string, tick: () => Promise<number>, opts: { idleMs: number; logger?: Logger }): Loop {
  let stopped = false;
  let wake: (() => void) | null = null;
  let timer: NodeJS.Timeout | null = null;
  const done = (async () => {
    while (!stopped) {
      let worked = 0;
      try {
        worked = await tick();
      } catch (e) {
        if (!stopped) opts.logger?.error({ err: e, loop: name }, 'worker loop tick failed');
      }
      if (stopped) break;
      // Yield to the event loop before the next busy tick: with PGlite every query resolves through microtasks,
      // so a loop that never waits would starve HTTP requests and timers.
      if (worked > 0) {
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, opts.idleMs);
      });
      wake = null;
    }
  })();
  return {
    kick() {
      if (timer) clearTimeout(timer);
      wake?.();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      wake?.();
      await done;
    },
  };
}
