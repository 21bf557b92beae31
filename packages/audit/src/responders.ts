// Outbound calls a detection may make: an account lock at identity
// (POST /admin/v1/users/{id}/lock, allowed for svc/audit; sessions are revoked
// only when the detection asks for it) and a webhook.
import { request } from '@bulwark/core'
import type { Dispatcher } from 'undici'

/** Locks `user` at identity; `revokeSessions` also ends its sessions and tokens (a lock alone stops new password logins only). */
export type LockAccount = (user: string, seconds: number, reason: string, options?: { revokeSessions?: boolean }) => Promise<void>

export function createIdentityLocker(peer: { url: string; dispatcher: Dispatcher }): LockAccount {
  return async (user, seconds, reason, options = {}) => {
    const res = await request(`${peer.url.replace(/\/$/, '')}/admin/v1/users/${encodeURIComponent(user)}/lock`, {
      method: 'POST', dispatcher: peer.dispatcher,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ seconds, reason, revokeSessions: options.revokeSessions === true }),
      headersTimeout: 5000, bodyTimeout: 5000,
    })
    const text = await res.body.text()
    if (res.statusCode < 200 || res.statusCode >= 300) {
      let detail = ''
      try { detail = String((JSON.parse(text) as { detail?: unknown }).detail ?? '') } catch { /* not json */ }
      throw new Error(`identity answered ${res.statusCode}${detail ? `: ${detail.slice(0, 200)}` : ''}`)
    }
  }
}

export async function postWebhook(url: string, payload: unknown): Promise<void> {
  const res = await request(url, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload),
    headersTimeout: 5000, bodyTimeout: 5000,
  })
  await res.body.dump()
  if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`webhook answered ${res.statusCode}`)
}
