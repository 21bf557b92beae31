// oidc-provider storage adapter on SQLite. Records are keyed by an HMAC of
// the id (a token, code or session id never reaches the disk), payloads are
// sealed with AES-256-GCM, and grant/user-code/uid lookups use HMACs too.
// Clients come from the client store so their secrets stay hashed.
import type { Database } from '@bulwark/core'
import type { Clock } from '@bulwark/core'
import type { Sealer } from '../store/crypto.ts'
import type { ClientStore } from '../store/clients.ts'

export type AdapterPayload = Record<string, unknown> & { grantId?: string; userCode?: string; uid?: string; accountId?: string; consumed?: number }

export type AdapterDeps = {
  db: Database
  hash: (value: string) => string
  sealer: Sealer
  clock: Clock
  clients: ClientStore
}

type Row = { payload: string; expires_at: number | null; consumed: number | null; id_hash: string }

/** Builds the adapter class oidc-provider instantiates once per model name. */
export function createAdapterClass(deps: AdapterDeps) {
  const { db, hash, sealer, clock, clients } = deps
  const upsert = db.prepare(`INSERT INTO oidc (model, id_hash, payload, grant_hash, user_code_hash, uid_hash, account_id, consumed, expires_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (model, id_hash) DO UPDATE SET payload = excluded.payload,
    grant_hash = excluded.grant_hash, user_code_hash = excluded.user_code_hash, uid_hash = excluded.uid_hash,
    account_id = excluded.account_id, expires_at = excluded.expires_at`)
  const byId = db.prepare('SELECT id_hash, payload, expires_at, consumed FROM oidc WHERE model = ? AND id_hash = ?')
  const byUserCode = db.prepare('SELECT id_hash, payload, expires_at, consumed FROM oidc WHERE model = ? AND user_code_hash = ?')
  const byUid = db.prepare('SELECT id_hash, payload, expires_at, consumed FROM oidc WHERE model = ? AND uid_hash = ?')
  const consume = db.prepare('UPDATE oidc SET consumed = ? WHERE model = ? AND id_hash = ?')
  const destroy = db.prepare('DELETE FROM oidc WHERE model = ? AND id_hash = ?')
  const revokeGrant = db.prepare('DELETE FROM oidc WHERE model = ? AND grant_hash = ?')

  function decode(model: string, row: Row | undefined): AdapterPayload | undefined {
    if (!row) return undefined
    if (row.expires_at !== null && row.expires_at <= clock.now()) return undefined
    const payload = JSON.parse(sealer.open(row.payload, `${model}:${row.id_hash}`)) as AdapterPayload
    if (row.consumed !== null) payload.consumed = row.consumed
    return payload
  }

  return class SqliteAdapter {
    readonly name: string
    constructor(name: string) { this.name = name }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      if (this.name === 'Client') throw new Error('clients are managed through the admin API')
      const idHash = hash(`${this.name}:${id}`)
      const expiresAt = expiresIn ? clock.now() + expiresIn * 1000 : null
      upsert.run(this.name, idHash, sealer.seal(JSON.stringify(payload), `${this.name}:${idHash}`),
        payload.grantId ? hash(`grant:${payload.grantId}`) : null,
        payload.userCode ? hash(`user_code:${payload.userCode}`) : null,
        payload.uid ? hash(`uid:${payload.uid}`) : null,
        typeof payload.accountId === 'string' ? payload.accountId : null, expiresAt)
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.name === 'Client') return clients.providerMetadata(id)
      return decode(this.name, byId.get(this.name, hash(`${this.name}:${id}`)) as Row | undefined)
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return decode(this.name, byUserCode.get(this.name, hash(`user_code:${userCode}`)) as Row | undefined)
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return decode(this.name, byUid.get(this.name, hash(`uid:${uid}`)) as Row | undefined)
    }

    async consume(id: string): Promise<void> {
      consume.run(Math.floor(clock.now() / 1000), this.name, hash(`${this.name}:${id}`))
    }

    async destroy(id: string): Promise<void> {
      destroy.run(this.name, hash(`${this.name}:${id}`))
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      const grantHash = hash(`grant:${grantId}`)
      revokeGrant.run(this.name, grantHash)
    }
  }
}

/** Deletes expired records; run periodically. */
export function purgeExpired(db: Database, now: number): number {
  const result = db.prepare('DELETE FROM oidc WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now)
  return Number(result.changes)
}
