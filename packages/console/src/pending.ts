// Sign-ins in flight: state, nonce and PKCE verifier of each authorization
// request, bound to the browser that started it by a `__Host-` cookie
// (RFC 9700 §4.7.1: CSRF on the redirect URI), single use, ten minutes at most.
// A step-up sign-in also carries the destructive action it will release.
import type { Clock } from '@bulwark/core'
import { randomHandle } from './sessions.ts'

export type PendingAction = { id: string; action: 'quarantine' | 'release'; service: string; createdAt: number }

export type PendingLogin = {
  state: string
  nonce: string
  codeVerifier: string
  createdAt: number
  /** Set for a step-up: the action to run once the admin re-authenticated. */
  stepUp?: { sessionSub: string; action: PendingAction }
}

export type PendingLogins = {
  start(login: Omit<PendingLogin, 'createdAt'>): string
  /** Takes (and removes) the sign-in a browser started; undefined when unknown or expired. */
  take(handle: string | undefined): PendingLogin | undefined
}

const TTL_MS = 10 * 60_000

export function createPendingLogins(options: { clock: Clock; max: number }): PendingLogins {
  const map = new Map<string, PendingLogin>()
  return {
    start(login) {
      const now = options.clock.now()
      for (const [key, p] of map) if (now - p.createdAt >= TTL_MS) map.delete(key)
      while (map.size >= options.max) map.delete(map.keys().next().value!)
      const handle = randomHandle()
      map.set(handle, { ...login, createdAt: now })
      return handle
    },
    take(handle) {
      if (!handle) return undefined
      const login = map.get(handle)
      map.delete(handle)
      if (!login || options.clock.now() - login.createdAt >= TTL_MS) return undefined
      return login
    },
  }
}
