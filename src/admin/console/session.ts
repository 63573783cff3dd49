import type { FastifyRequest } from 'fastify';
import type { Sessions } from '../../accounts/service.ts';
import { sha256Hex } from '../../platform/crypto.ts';
import type { Operators, OperatorRole } from '../operators.ts';

/**
 * Console sessions: an HttpOnly cookie naming a server-side session (accounts' sessions table) whose subject is an
 * operator account, or the admin token's holder. An operator disabled since logging in loses the session at the next
 * request.
 */
export const CONSOLE_COOKIE = 'rampart_console';
const SUBJECT = 'operator';
/**
 * The subject id of a session opened with the admin token: an administrator without an account. It names the token
 * (a prefix of its hash), so a session opened with a token the operator has since replaced ends with it.
 */
const tokenSubject = (adminToken: string) => `admin-token:${sha256Hex(adminToken).slice(0, 16)}`;

export interface ConsoleOperator {
  id: string;
  email: string;
  role: OperatorRole;
  csrf: string;
}

export function createConsoleSessions(deps: { sessions: Sessions; operators: Operators; adminToken: string }) {
  const { sessions, operators } = deps;
  const TOKEN_SUBJECT = tokenSubject(deps.adminToken);
  return {
    async operator(req: FastifyRequest): Promise<ConsoleOperator | null> {
      const s = await sessions.get(req.cookies[CONSOLE_COOKIE], SUBJECT);
      if (!s) return null;
      if (s.subjectId === TOKEN_SUBJECT)
        return { id: 'admin-token', email: 'admin token', role: 'admin', csrf: s.csrf };
      if (s.subjectId.startsWith('admin-token')) return null;
      const op = await operators.get(s.subjectId);
      if (!op || op.disabledAt !== null) return null;
      return { id: op.id, email: op.email, role: op.role, csrf: s.csrf };
    },
    open: (operatorId: string | null) => sessions.create(SUBJECT, operatorId ?? TOKEN_SUBJECT),
    close: (req: FastifyRequest) => sessions.destroy(req.cookies[CONSOLE_COOKIE]),
  };
}
export type ConsoleSessions = ReturnType<typeof createConsoleSessions>;
