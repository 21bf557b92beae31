// oidc-provider storage adapter on identity's store (SQLite or PostgreSQL).
// Records are keyed by an HMAC of the id (a token, code or session id never
// reaches the disk), payloads are sealed with AES-256-GCM, and
// grant/user-code/uid lookups use HMACs too. Clients come from the client
// store so their secrets stay hashed.
//
// Single use holds across replicas: `consume` is a conditional UPDATE that
// only one caller can win. oidc-provider reads a code or refresh token, checks
// it is unconsumed, then consumes it; two replicas redeeming the same one at
// once both pass the check, so the loser learns here that it lost. It answers
// as oidc-provider does for a replay it saw itself: the grant is revoked and
// the request fails with invalid_grant (`refresh token already used`,
// `authorization code already consumed`).
import { errors } from 'oidc-provider'
import type { Clock, SqlStore } from '@bulwark/core'
import type { Sealer } from '../store/crypto.ts'
import type { ClientStore } from '../store/clients.ts'

export type AdapterPayload = Record<string, unknown> & { grantId?: string; userCode?: string; uid?: string; accountId?: string; consumed?: number }

export type AdapterDeps = {
  db: SqlStore
  hash: (value: string) => string
  sealer: Sealer
  clock: Clock
  clients: ClientStore
  /** Revokes a grant whose code or refresh token was redeemed twice (by this replica or another). */
  revokeGrant: (grantId: string) => Promise<void>
}

type Row = { payload: string; expires_at: number | null; consumed: number | null; id_hash: string }

/** What oidc-provider itself says when it sees a replay (events.ts classifies audit events by it). */
const REPLAYED: Record<string, string> = {
  RefreshToken: 'refresh token already used',
  AuthorizationCode: 'authorization code already consumed',
  DeviceCode: 'device code already consumed',
  BackchannelAuthenticationRequest: 'backchannel authentication request already consumed',
}

const COLUMNS = 'id_hash, payload, expires_at, consumed'

/** Builds the adapter class oidc-provider instantiates once per model name. */
export function createAdapterClass(deps: AdapterDeps) {
  const { db, hash, sealer, clock, clients } = deps

  function decode(model: string, row: Row | undefined): AdapterPayload | undefined {
    if (!row) return undefined
    if (row.expires_at !== null && row.expires_at <= clock.now()) return undefined
    const payload = JSON.parse(sealer.open(row.payload, `${model}:${row.id_hash}`)) as AdapterPayload
    if (row.consumed !== null) payload.consumed = row.consumed
    return payload
  }

  return class StoreAdapter {
    readonly name: string
    constructor(name: string) { this.name = name }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      if (this.name === 'Client') throw new Error('clients are managed through the admin API')
      const idHash = hash(`${this.name}:${id}`)
      const expiresAt = expiresIn ? clock.now() + expiresIn * 1000 : null
      await db.run(`INSERT INTO oidc (model, id_hash, payload, grant_hash, user_code_hash, uid_hash, account_id, consumed, expires_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (model, id_hash) DO UPDATE SET payload = excluded.payload,
        grant_hash = excluded.grant_hash, user_code_hash = excluded.user_code_hash, uid_hash = excluded.uid_hash,
        account_id = excluded.account_id, expires_at = excluded.expires_at`, [
        this.name, idHash, sealer.seal(JSON.stringify(payload), `${this.name}:${idHash}`),
        payload.grantId ? hash(`grant:${payload.grantId}`) : null,
        payload.userCode ? hash(`user_code:${payload.userCode}`) : null,
        payload.uid ? hash(`uid:${payload.uid}`) : null,
        typeof payload.accountId === 'string' ? payload.accountId : null, expiresAt])
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.name === 'Client') return await clients.providerMetadata(id)
      return decode(this.name, await db.one<Row>(`SELECT ${COLUMNS} FROM oidc WHERE model = ? AND id_hash = ?`, [this.name, hash(`${this.name}:${id}`)]))
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return decode(this.name, await db.one<Row>(`SELECT ${COLUMNS} FROM oidc WHERE model = ? AND user_code_hash = ?`, [this.name, hash(`user_code:${userCode}`)]))
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return decode(this.name, await db.one<Row>(`SELECT ${COLUMNS} FROM oidc WHERE model = ? AND uid_hash = ?`, [this.name, hash(`uid:${uid}`)]))
    }

    async consume(id: string): Promise<void> {
      const idHash = hash(`${this.name}:${id}`)
      const won = await db.run('UPDATE oidc SET consumed = ? WHERE model = ? AND id_hash = ? AND consumed IS NULL', [Math.floor(clock.now() / 1000), this.name, idHash])
      if (won.changes === 1) return
      // Consumed meanwhile (or already revoked and gone): the replay response, as if oidc-provider had seen it.
      const row = await db.one<Row>(`SELECT ${COLUMNS} FROM oidc WHERE model = ? AND id_hash = ?`, [this.name, idHash])
      const grantId = row ? (JSON.parse(sealer.open(row.payload, `${this.name}:${row.id_hash}`)) as AdapterPayload).grantId : undefined
      await db.run('DELETE FROM oidc WHERE model = ? AND id_hash = ?', [this.name, idHash])
      if (grantId) await deps.revokeGrant(grantId)
      throw new errors.InvalidGrant(REPLAYED[this.name] ?? `${this.name} already consumed`)
    }

    async destroy(id: string): Promise<void> {
      await db.run('DELETE FROM oidc WHERE model = ? AND id_hash = ?', [this.name, hash(`${this.name}:${id}`)])
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.run('DELETE FROM oidc WHERE model = ? AND grant_hash = ?', [this.name, hash(`grant:${grantId}`)])
    }
  }
}

/** Deletes expired records; run periodically. */
export async function purgeExpired(db: SqlStore, now: number): Promise<number> {
  return (await db.run('DELETE FROM oidc WHERE expires_at IS NOT NULL AND expires_at <= ?', [now])).changes
}
