// Server-side sessions. The browser holds only a random handle in a
// `__Host-` cookie (Secure, HttpOnly, SameSite=Strict, Path=/); tokens, roles
// and the CSRF token live here, keyed by a SHA-256 of the handle so a memory
// dump does not hand out usable cookies. Idle and absolute timeouts
// (OWASP ASVS 3.3); the number of sessions is capped (oldest go first).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock } from '@bulwark/core'
import type { PendingAction } from './pending.ts'

export const SESSION_COOKIE = '__Host-bulwark-console'
export const LOGIN_COOKIE = '__Host-bulwark-console-login'

export type Operator = { sub: string; name: string; roles: string[]; amr: string[]; authTime: number }

export type ActionResult = { id: string; action: string; service: string; outcome: 'success' | 'failure'; message: string }

export type Session = {
  readonly operator: Operator
  readonly csrf: string
  /** The ID token, kept for identity's end_session (`id_token_hint`). */
  readonly idToken: string
  readonly createdAt: number
  lastSeen: number
  /** The last destructive action's result, shown once. */
  lastAction?: ActionResult
  /** A confirmed destructive action waiting for its step-up sign-in (one at a time). */
  pendingAction?: PendingAction
}

export type SessionStore = {
  create(operator: Operator, idToken: string): { handle: string; session: Session }
  /** The live session for a cookie value (and marks it used), or undefined. */
  get(handle: string | undefined): Session | undefined
  destroy(handle: string | undefined): Session | undefined
  readonly size: number
}

const keyOf = (handle: string) => createHash('sha256').update(handle).digest('base64url')
export const randomHandle = () => randomBytes(32).toString('base64url')

export function createSessionStore(options: { clock: Clock; idleMs: number; maxMs: number; max: number }): SessionStore {
  const sessions = new Map<string, Session>()
  const live = (s: Session, now: number) => now - s.lastSeen < options.idleMs && now - s.createdAt < options.maxMs
  function sweep(now: number): void {
    for (const [key, s] of sessions) if (!live(s, now)) sessions.delete(key)
    // Insertion order is creation order: the oldest sessions give way.
    while (sessions.size >= options.max) sessions.delete(sessions.keys().next().value!)
  }
  return {
    create(operator, idToken) {
      const now = options.clock.now()
      sweep(now)
      const handle = randomHandle()
      const session: Session = { operator, idToken, csrf: randomHandle(), createdAt: now, lastSeen: now }
      sessions.set(keyOf(handle), session)
      return { handle, session }
    },
    get(handle) {
      if (!handle || handle.length > 128) return undefined
      const key = keyOf(handle)
      const session = sessions.get(key)
      if (!session) return undefined
      const now = options.clock.now()
      if (!live(session, now)) {
        sessions.delete(key)
        return undefined
      }
      session.lastSeen = now
      return session
    },
    destroy(handle) {
      if (!handle || handle.length > 128) return undefined
      const key = keyOf(handle)
      const session = sessions.get(key)
      sessions.delete(key)
      return session
    },
    get size() { return sessions.size },
  }
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(session: Session, presented: unknown): boolean {
  if (typeof presented !== 'string' || presented.length !== session.csrf.length) return false
  return timingSafeEqual(Buffer.from(presented), Buffer.from(session.csrf))
}

/** A Set-Cookie value for a `__Host-` cookie; `maxAge` 0 deletes it. */
export function hostCookie(name: string, value: string, maxAgeSeconds?: number): string {
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict${maxAgeSeconds === undefined ? '' : `; Max-Age=${maxAgeSeconds}`}`
}

/** The value of cookie `name` from a Cookie header (HTTP/2 may have joined several). */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  let found: string | undefined
  for (const part of [header].flat().join('; ').split(';')) {
    const at = part.indexOf('=')
    if (at === -1 || part.slice(0, at).trim() !== name) continue
    // Two cookies of the same name: refuse both rather than guess which one is ours.
    if (found !== undefined) return undefined
    found = part.slice(at + 1).trim()
  }
  return found
}
