/** Domain results: errors are values with a domain code, mapped to wire codes per API family. */
type Ok<T> = { ok: true; value: T };
type Err<C extends string = string> = { ok: false; code: C; message?: string; field?: string };
export type Result<T, C extends string = string> = Ok<T> | Err<C>;

export const ok = <T>(value: T): Ok<T> => ({ ok: true, value });
export const err = <C extends string>(code: C, message?: string, field?: string): Err<C> => ({
  ok: false,
  code,
  message,
  field,
});

/**
 * Thrown inside a database transaction to roll it back; caught at the service edge and
 * turned back into an Err value. Never escapes a service.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message?: string,
  ) {
    super(message ?? code);
  }
}

export async function catchDomain<T>(fn: () => Promise<T>): Promise<Result<T>> {
  try {
    return ok(await fn());
  } catch (e) {
    if (e instanceof DomainError) return err(e.code, e.message === e.code ? undefined : e.message);
    throw e;
  }
}

/** One property of a thrown value, if it is an object (drivers and Node put `code`, `cause`, … on their errors). */
export function errorField(e: unknown, field: string): unknown {
  return typeof e === 'object' && e !== null ? (e as Record<string, unknown>)[field] : undefined;
}

/** The first of `fields` a thrown value has (neither null nor undefined), as text; else the value itself as text. */
export function describeError(e: unknown, ...fields: string[]): string {
  for (const f of fields) {
    const v = errorField(e, f);
    if (v !== undefined && v !== null) return String(v);
  }
  return String(e);
}
