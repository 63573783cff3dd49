import type { LoadOptions, LoadResult } from './load.ts';

/** One bench section measures one or more endpoints on one database and returns a row per measurement. */
export interface BenchContext {
  kind: 'pglite' | 'pg';
  load: LoadOptions;
}

export interface BenchRow extends LoadResult {
  /** Stable id, e.g. "pay.create-order-v3"; `floor` refers to another row's id on the same database. */
  id: string;
  label: string;
  db: 'pglite' | 'pg';
  concurrency: number;
  /** The row this one is compared against (ratio = rps / floor rps). */
  floor?: string;
}

export type Section = (ctx: BenchContext) => Promise<BenchRow[]>;

export const row = (ctx: BenchContext, id: string, label: string, r: LoadResult, floor?: string): BenchRow => ({
  id,
  label,
  db: ctx.kind,
  concurrency: ctx.load.concurrency,
  ...r,
  ...(floor ? { floor } : {}),
});
