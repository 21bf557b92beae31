// Signing keys with staged rotation: a `next` key is published in the JWKS
// before it signs anything; rotation makes it `current` and keeps the old one
// published as `retired` until every token it signed has expired. Private
// JWKs are sealed at rest (HKDF info `bulwark/identity/signing-keys`); the
// master key stays in its file, so the database alone cannot open them.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import type { Clock, SqlExecutor, SqlStore } from '@bulwark/core'
import { lockFor } from '../store/database.ts'
import type { Sealer } from '../store/crypto.ts'

export type SigningAlg = 'ES256' | 'RS256'
export type KeyState = 'next' | 'current' | 'retired'
export type SigningKeyInfo = { kid: string; alg: string; state: KeyState; createdAt: number; retireUntil: number | null }
export type PrivateJwk = Record<string, unknown> & { kid: string; alg: string }

export type SigningKeys = {
  /** Makes sure a current and a next key exist; returns true when anything changed. */
  ensure(): Promise<boolean>
  /** Promotes next to current, retires current; returns the new key list. */
  rotate(): Promise<SigningKeyInfo[]>
  /**
   * Rotates when the last rotation (the staged `next` key's creation) is at least `periodMs` ago,
   * deciding and rotating under one lock: of replicas finding it due at once, one rotates.
   */
  rotateIfDue(periodMs: number): Promise<SigningKeyInfo[] | undefined>
  /** Drops retired keys whose grace period is over; returns true when any went. */
  prune(): Promise<boolean>
  list(): Promise<SigningKeyInfo[]>
  /** Private JWKs for oidc-provider: current (the one that signs) first, then next and retired (published, verify only). */
  jwks(): Promise<PrivateJwk[]>
  currentKid(): Promise<string | undefined>
}

/** Kids and states: changes when any replica rotates, adds or prunes a key. */
export const keySetVersion = (keys: SigningKeyInfo[]) => keys.map((k) => `${k.kid}:${k.state}`).join(',')

function generate(alg: SigningAlg): KeyObject {
  const { privateKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 })
  return privateKey
}

export function createSigningKeys(db: SqlStore, options: { alg: SigningAlg; sealer: Sealer; clock: Clock; graceSeconds: number }): SigningKeys {
  const { alg, sealer, clock } = options
  type Row = { kid: string; alg: string; state: KeyState; jwk: string; created_at: number; retire_until: number | null }
  const rows = (executor: SqlExecutor = db) => executor.all<Row>('SELECT kid, alg, state, jwk, created_at, retire_until FROM signing_keys ORDER BY created_at, kid')
  const info = (r: Row): SigningKeyInfo => ({ kid: r.kid, alg: r.alg, state: r.state, createdAt: r.created_at, retireUntil: r.retire_until })
  async function add(tx: SqlExecutor, state: KeyState): Promise<void> {
    const kid = randomBytes(12).toString('base64url')
    const jwk = { ...generate(alg).export({ format: 'jwk' }), kid, alg, use: 'sig' }
    await tx.run('INSERT INTO signing_keys (kid, alg, state, jwk, created_at, retire_until) VALUES (?, ?, ?, ?, ?, NULL)',
      [kid, alg, state, sealer.seal(JSON.stringify(jwk), `signing-key:${kid}`), clock.now()])
  }
  /** Inside a transaction holding the key lock: replicas starting at once make one current and one next key. */
  async function ensureIn(tx: SqlExecutor): Promise<boolean> {
    let changed = false
    // A configured algorithm change retires keys of the old algorithm.
    for (const row of await rows(tx)) {
      if (row.alg !== alg && row.state !== 'retired') {
        await tx.run("UPDATE signing_keys SET state = 'retired', retire_until = ? WHERE kid = ?", [clock.now() + options.graceSeconds * 1000, row.kid])
        changed = true
      }
    }
    const live = await rows(tx)
    if (!live.some((r) => r.state === 'current')) { await add(tx, 'current'); changed = true }
    if (!live.some((r) => r.state === 'next')) { await add(tx, 'next'); changed = true }
    return changed
  }
  async function rotateIn(tx: SqlExecutor): Promise<void> {
    await ensureIn(tx)
    await tx.run("UPDATE signing_keys SET state = 'retired', retire_until = ? WHERE state = 'current'", [clock.now() + options.graceSeconds * 1000])
    await tx.run("UPDATE signing_keys SET state = 'current' WHERE state = 'next'")
    await add(tx, 'next')
  }
  const locked = <T>(fn: (tx: SqlExecutor) => Promise<T>) => db.transaction(async (tx) => {
    await lockFor(tx, 'signing-keys')
    return await fn(tx)
  })
  const keys: SigningKeys = {
    ensure: () => locked(ensureIn),
    async rotate() {
      await locked(rotateIn)
      return await keys.list()
    },
    async rotateIfDue(periodMs) {
      const rotated = await locked(async (tx) => {
        // Every rotation stages a fresh `next` key, so its age is the time since the last rotation.
        const next = (await rows(tx)).find((r) => r.state === 'next')
        if (next === undefined || clock.now() - next.created_at < periodMs) return false
        await rotateIn(tx)
        return true
      })
      return rotated ? await keys.list() : undefined
    },
    async prune() {
      return (await db.run("DELETE FROM signing_keys WHERE state = 'retired' AND retire_until <= ?", [clock.now()])).changes > 0
    },
    list: async () => (await rows()).map(info),
    async jwks() {
      const order: Record<KeyState, number> = { current: 0, next: 1, retired: 2 }
      // oidc-provider signs with the first matching key (stable sort on equal scores): current goes first.
      return (await rows()).sort((a, b) => order[a.state] - order[b.state]).map((r) => JSON.parse(sealer.open(r.jwk, `signing-key:${r.kid}`)) as PrivateJwk)
    },
    currentKid: async () => (await rows()).find((r) => r.state === 'current')?.kid,
  }
  return keys
}
