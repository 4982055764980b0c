/**
 * Dashboard sessions: a random id in an HttpOnly cookie, a CSRF token the pages send back on every POST, an
 * idle expiry and an absolute one, and the operator's XMPP session (operator-link.ts) closed with it.
 * Held in memory only: a hub restart logs everyone out, which is the safe outcome (no session store to steal).
 * Bounded: at most `maxSessions` in all and `maxPerOperator` per operator (the oldest is closed first).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { OperatorLink } from './operator-link.js';

export const SESSION_COOKIE = 'xiot_session';

export interface DashboardSession {
  readonly id: string;
  readonly csrf: string;
  readonly operator: string;
  readonly link: OperatorLink;
  readonly created: number;
  lastUsed: number;
}

export interface SessionOptions {
  idleMs: number;
  /** Absolute lifetime, whatever the activity. */
  maxAgeMs?: number;
  maxSessions?: number;
  maxPerOperator?: number;
  now?: () => number;
}

const token = () => randomBytes(32).toString('base64url');

export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createSessions(options: SessionOptions) {
  const now = options.now ?? Date.now;
  const maxAge = options.maxAgeMs ?? 12 * 3600_000;
  const maxSessions = options.maxSessions ?? 1000;
  const maxPerOperator = options.maxPerOperator ?? 10;
  const sessions = new Map<string, DashboardSession>();

  const expired = (s: DashboardSession, t: number) =>
    t - s.lastUsed > options.idleMs || t - s.created > maxAge;

  const end = (s: DashboardSession) => {
    if (!sessions.delete(s.id)) return;
    s.link.close().catch(() => undefined);
  };

  return {
    get size() {
      return sessions.size;
    },
    /** A new session for a logged-in operator; evicts the oldest when over a bound. */
    create(link: OperatorLink): DashboardSession {
      const t = now();
      const mine = [...sessions.values()].filter((s) => s.operator === link.operator);
      if (mine.length >= maxPerOperator) end(mine[0] as DashboardSession);
      if (sessions.size >= maxSessions) end(sessions.values().next().value as DashboardSession);
      const session: DashboardSession = {
        id: token(),
        csrf: token(),
        operator: link.operator,
        link,
        created: t,
        lastUsed: t,
      };
      sessions.set(session.id, session);
      return session;
    },
    /** The live session of a cookie value (touching it), or undefined. */
    lookup(id: string | undefined): DashboardSession | undefined {
      if (!id) return undefined;
      const s = sessions.get(id);
      if (!s) return undefined;
      const t = now();
      if (expired(s, t)) {
        end(s);
        return undefined;
      }
      s.lastUsed = t;
      return s;
    },
    /** Whether a session still exists and is not expired, without counting as activity (event streams). */
    isLive(id: string): boolean {
      const s = sessions.get(id);
      return s !== undefined && !expired(s, now());
    },
    end,
    /** Ends expired sessions (run every minute). */
    sweep(): number {
      const t = now();
      let n = 0;
      for (const s of [...sessions.values()])
        if (expired(s, t)) {
          end(s);
          n++;
        }
      return n;
    },
    async closeAll(): Promise<void> {
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.all(all.map((s) => s.link.close().catch(() => undefined)));
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;

/** The Set-Cookie value for a session (or, with `undefined`, one that deletes it). */
export function sessionCookie(id: string | undefined, opts: { secure: boolean; maxAgeS: number }): string {
  return [
    `${SESSION_COOKIE}=${id ?? ''}`,
    'HttpOnly',
    'SameSite=Strict',
    'Path=/',
    `Max-Age=${id ? opts.maxAgeS : 0}`,
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

/** One cookie's value from a Cookie header (bounded: a huge header is ignored). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
