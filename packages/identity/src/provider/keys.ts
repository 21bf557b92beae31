// Signing keys with staged rotation: a `next` key is published in the JWKS
// before it signs anything; rotation makes it `current` and keeps the old one
// published as `retired` until every token it signed has expired. Private
// JWKs are sealed at rest (HKDF info `bulwark/identity/signing-keys`).
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import type { Clock, Database } from '@bulwark/core'
import type { Sealer } from '../store/crypto.ts'

export type SigningAlg = 'ES256' | 'RS256'
export type KeyState = 'next' | 'current' | 'retired'
export type SigningKeyInfo = { kid: string; alg: string; state: KeyState; createdAt: number; retireUntil: number | null }
export type PrivateJwk = Record<string, unknown> & { kid: string; alg: string }

export type SigningKeys = {
  /** Makes sure a current and a next key exist; returns true when anything changed. */
  ensure(): boolean
  /** Promotes next to current, retires current; returns the new key list. */
  rotate(): SigningKeyInfo[]
  /** True when the last rotation (the staged `next` key's creation) is at least `periodMs` ago. */
  rotationDue(periodMs: number): boolean
  /** Drops retired keys whose grace period is over; returns true when any went. */
  prune(): boolean
  list(): SigningKeyInfo[]
  /** Private JWKs for oidc-provider: current (the one that signs) first, then next and retired (published, verify only). */
  jwks(): PrivateJwk[]
  currentKid(): string | undefined
}

function generate(alg: SigningAlg): KeyObject {
  const { privateKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 })
  return privateKey
}

export function createSigningKeys(db: Database, options: { alg: SigningAlg; sealer: Sealer; clock: Clock; graceSeconds: number }): SigningKeys {
  const { alg, sealer, clock } = options
  type Row = { kid: string; alg: string; state: KeyState; jwk: string; created_at: number; retire_until: number | null }
  const rows = () => db.prepare('SELECT kid, alg, state, jwk, created_at, retire_until FROM signing_keys ORDER BY created_at, kid').all() as Row[]
  const info = (r: Row): SigningKeyInfo => ({ kid: r.kid, alg: r.alg, state: r.state, createdAt: r.created_at, retireUntil: r.retire_until })
  function add(state: KeyState): void {
    const kid = randomBytes(12).toString('base64url')
    const jwk = { ...generate(alg).export({ format: 'jwk' }), kid, alg, use: 'sig' }
    db.prepare('INSERT INTO signing_keys (kid, alg, state, jwk, created_at, retire_until) VALUES (?, ?, ?, ?, ?, NULL)')
      .run(kid, alg, state, sealer.seal(JSON.stringify(jwk), `signing-key:${kid}`), clock.now())
  }
  const keys: SigningKeys = {
    ensure() {
      const current = rows()
      let changed = false
      // A configured algorithm change retires keys of the old algorithm.
      for (const row of current) {
        if (row.alg !== alg && row.state !== 'retired') {
          db.prepare("UPDATE signing_keys SET state = 'retired', retire_until = ? WHERE kid = ?").run(clock.now() + options.graceSeconds * 1000, row.kid)
          changed = true
        }
      }
      const live = rows()
      if (!live.some((r) => r.state === 'current')) { add('current'); changed = true }
      if (!live.some((r) => r.state === 'next')) { add('next'); changed = true }
      return changed
    },
    rotate() {
      db.transaction(() => {
        keys.ensure()
        db.prepare("UPDATE signing_keys SET state = 'retired', retire_until = ? WHERE state = 'current'").run(clock.now() + options.graceSeconds * 1000)
        db.prepare("UPDATE signing_keys SET state = 'current' WHERE state = 'next'").run()
        add('next')
      })
      return keys.list()
    },
    rotationDue(periodMs) {
      // Every rotation stages a fresh `next` key, so its age is the time since the last rotation.
      const next = rows().find((r) => r.state === 'next')
      return next !== undefined && clock.now() - next.created_at >= periodMs
    },
    prune() {
      return Number(db.prepare("DELETE FROM signing_keys WHERE state = 'retired' AND retire_until <= ?").run(clock.now()).changes) > 0
    },
    list: () => rows().map(info),
    jwks() {
      const order: Record<KeyState, number> = { current: 0, next: 1, retired: 2 }
      // oidc-provider signs with the first matching key (stable sort on equal scores): current goes first.
      return rows().sort((a, b) => order[a.state] - order[b.state]).map((r) => JSON.parse(sealer.open(r.jwk, `signing-key:${r.kid}`)) as PrivateJwk)
    },
    currentKid: () => rows().find((r) => r.state === 'current')?.kid,
  }
  return keys
}
