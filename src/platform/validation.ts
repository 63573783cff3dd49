import type { z } from 'zod';

/**
 * Validation at the edge of every API family is zod. A family's parameter codes travel as structured issue data:
 * `coded(code, reason)` is a check option that sets `issue.params.wire` and makes `reason` the message, so the
 * family reads the code back with `wireCodeOf(issue)` (no code hidden in a message string). Issues without one map by
 * their kind, per family.
 */
export const coded = (code: string, reason: string) => codedBy(() => [code, reason]);

/** Issue data for `ctx.addIssue` in a superRefine: the same structured code. */
export const codedIssue = (code: string, path: PropertyKey[], message: string) => ({
  code: 'custom' as const,
  path,
  message,
  params: { wire: code },
});

export const wireCodeOf = (issue: z.core.$ZodIssue): string | undefined => {
  const w = (issue as { params?: { wire?: unknown } }).params?.wire;
  return typeof w === 'string' ? w : undefined;
};

/** `a.b[0].c` for an issue path. */
export function fieldPath(path: PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/** Like `coded`, with the code and reason chosen from the issue (e.g. missing vs wrong type from its input). */
export const codedBy = (pick: (iss: z.core.$ZodRawIssue) => [code: string, reason: string]) => ({
  error: (iss: z.core.$ZodRawIssue) => {
    const [code, reason] = pick(iss);
    (iss as { params?: Record<string, unknown> }).params = {
      ...(iss as { params?: Record<string, unknown> }).params,
      wire: code,
    };
    return reason;
  },
});
