// The CA's inventory: issued certificates, hashed join tokens, quarantined
// identities, retired intermediates and the bundle version. On the CA's
// SqlStore (its SQLite file by default, schema `bulwark_ca` on PostgreSQL).
// No key is stored here: the root and intermediate keys stay in their files,
// join tokens are kept as SHA-256 hashes only.
//
// Replicas on one PostgreSQL: redeeming a join token is one conditional
// UPDATE (`used_at IS NULL AND expires_at > now`), so of two CA replicas
// redeeming the same token at once exactly one changes the row; revocation
// and quarantine changes bump the stored bundle version, which every replica
// reads (see authority.ts).
import { openStore, type BootstrapMessage, type Migration, type SqlStore } from '@bulwark/core'

// Version 1 is the SQLite schema the CA always had, so existing files carry on.
export const CA_MIGRATIONS: readonly Migration[] = [{
  sqlite: `CREATE TABLE certs (
     serial TEXT PRIMARY KEY, spiffe_id TEXT NOT NULL, kind TEXT NOT NULL, via TEXT NOT NULL,
     issuer_serial TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,
     issued_at INTEGER NOT NULL, revoked_at INTEGER, revoke_reason TEXT);
   CREATE INDEX certs_spiffe_id ON certs(spiffe_id);
   CREATE INDEX certs_not_after ON certs(not_after);
   CREATE TABLE join_tokens (
     hash TEXT PRIMARY KEY, spiffe_id TEXT NOT NULL, created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL, used_at INTEGER, created_by TEXT NOT NULL);
   CREATE TABLE quarantine (spiffe_id TEXT PRIMARY KEY, since INTEGER NOT NULL, by TEXT NOT NULL);
   CREATE TABLE intermediates (serial TEXT PRIMARY KEY, pem TEXT NOT NULL, not_after INTEGER NOT NULL, retired_at INTEGER NOT NULL);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   INSERT INTO meta (key, value) VALUES ('bundle_version', '1');`,
  postgres: `CREATE TABLE certs (
     serial TEXT COLLATE "C" PRIMARY KEY, spiffe_id TEXT NOT NULL, kind TEXT NOT NULL, via TEXT NOT NULL,
     issuer_serial TEXT NOT NULL, not_before BIGINT NOT NULL, not_after BIGINT NOT NULL,
     issued_at BIGINT NOT NULL, revoked_at BIGINT, revoke_reason TEXT);
   CREATE INDEX certs_spiffe_id ON certs(spiffe_id);
   CREATE INDEX certs_not_after ON certs(not_after);
   CREATE TABLE join_tokens (
     hash TEXT PRIMARY KEY, spiffe_id TEXT NOT NULL, created_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL, used_at BIGINT, created_by TEXT NOT NULL);
   CREATE TABLE quarantine (spiffe_id TEXT COLLATE "C" PRIMARY KEY, since BIGINT NOT NULL, by TEXT NOT NULL);
   CREATE TABLE intermediates (serial TEXT PRIMARY KEY, pem TEXT NOT NULL, not_after BIGINT NOT NULL, retired_at BIGINT NOT NULL);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   INSERT INTO meta (key, value) VALUES ('bundle_version', '1');`,
}]

/** The CA's SqlStore: its SQLite file (as `openDatabase` kept it), or schema `bulwark_ca` on PostgreSQL. */
export function openCaSqlStore(options: { sqlitePath: string; storage?: BootstrapMessage['storage'] }): Promise<SqlStore> {
  return openStore('ca', { storage: options.storage, sqlitePath: options.sqlitePath, migrations: CA_MIGRATIONS, synchronous: 'FULL' })
}

export type CertRecord = {
  serial: string
  spiffeId: string
  kind: 'svid' | 'serving' | 'operator'
  via: 'join' | 'renew' | 'issue' | 'self' | 'k8s_psat'
  issuerSerial: string
  notBefore: number
  notAfter: number
  issuedAt: number
  revokedAt: number | null
  revokeReason: string | null
}

export type JoinTokenRecord = { hash: string; spiffeId: string; createdAt: number; expiresAt: number; usedAt: number | null }

type Row = Record<string, string | number | null>

function toCert(row: Row): CertRecord {
  return {
    serial: row.serial as string, spiffeId: row.spiffe_id as string, kind: row.kind as CertRecord['kind'],
    via: row.via as CertRecord['via'], issuerSerial: row.issuer_serial as string,
    notBefore: Number(row.not_before), notAfter: Number(row.not_after), issuedAt: Number(row.issued_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at), revokeReason: row.revoke_reason as string | null,
  }
}

export type CaStore = ReturnType<typeof createCaStore>

export function createCaStore(db: SqlStore) {
  return {
    /** Where the data lives (safe to log). */
    location: db.location,
    async recordCert(cert: Omit<CertRecord, 'revokedAt' | 'revokeReason'>): Promise<void> {
      await db.run(`INSERT INTO certs (serial, spiffe_id, kind, via, issuer_serial, not_before, not_after, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [cert.serial, cert.spiffeId, cert.kind, cert.via, cert.issuerSerial, cert.notBefore, cert.notAfter, cert.issuedAt])
    },
    async cert(serial: string): Promise<CertRecord | undefined> {
      const row = await db.one<Row>('SELECT * FROM certs WHERE serial = ?', [serial])
      return row ? toCert(row) : undefined
    },
    /** True when this call revoked it (false if it already was). */
    async revoke(serial: string, at: number, reason: string): Promise<boolean> {
      return (await db.run('UPDATE certs SET revoked_at = ?, revoke_reason = ? WHERE serial = ? AND revoked_at IS NULL', [at, reason, serial])).changes > 0
    },
    /** Serials revoked and not yet expired: what peers must refuse. */
    async revokedSerials(now: number): Promise<string[]> {
      return (await db.all<Row>('SELECT serial FROM certs WHERE revoked_at IS NOT NULL AND not_after > ? ORDER BY serial', [now])).map((r) => r.serial as string)
    },
    async listCerts(filter: { spiffeId?: string; activeAt?: number; limit: number }): Promise<CertRecord[]> {
      const where: string[] = []
      const args: Array<string | number> = []
      if (filter.spiffeId) { where.push('spiffe_id = ?'); args.push(filter.spiffeId) }
      if (filter.activeAt !== undefined) { where.push('not_after > ? AND revoked_at IS NULL'); args.push(filter.activeAt) }
      const sql = `SELECT * FROM certs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY issued_at DESC, serial LIMIT ?`
      return (await db.all<Row>(sql, [...args, filter.limit])).map(toCert)
    },
    async addJoinToken(token: { hash: string; spiffeId: string; createdAt: number; expiresAt: number; createdBy: string }): Promise<void> {
      await db.transaction(async (tx) => {
        await tx.run('DELETE FROM join_tokens WHERE expires_at < ?', [token.createdAt - 24 * 3600_000])
        await tx.run('INSERT INTO join_tokens (hash, spiffe_id, created_at, expires_at, created_by) VALUES (?, ?, ?, ?, ?)',
          [token.hash, token.spiffeId, token.createdAt, token.expiresAt, token.createdBy])
      })
    },
    async joinToken(hash: string): Promise<JoinTokenRecord | undefined> {
      const row = await db.one<Row>('SELECT * FROM join_tokens WHERE hash = ?', [hash])
      if (!row) return undefined
      return { hash, spiffeId: row.spiffe_id as string, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at), usedAt: row.used_at === null ? null : Number(row.used_at) }
    },
    /** Marks the token used in one conditional UPDATE; false when it was used (here or at another replica) or expired meanwhile. */
    async consumeJoinToken(hash: string, now: number): Promise<boolean> {
      return (await db.run('UPDATE join_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?', [now, hash, now])).changes > 0
    },
    async quarantined(): Promise<string[]> {
      return (await db.all<Row>('SELECT spiffe_id FROM quarantine ORDER BY spiffe_id')).map((r) => r.spiffe_id as string)
    },
    async isQuarantined(spiffeId: string): Promise<boolean> {
      return (await db.one('SELECT 1 AS q FROM quarantine WHERE spiffe_id = ?', [spiffeId])) !== undefined
    },
    async quarantine(spiffeId: string, at: number, by: string): Promise<boolean> {
      return (await db.run('INSERT INTO quarantine (spiffe_id, since, by) VALUES (?, ?, ?) ON CONFLICT (spiffe_id) DO NOTHING', [spiffeId, at, by])).changes > 0
    },
    async release(spiffeId: string): Promise<boolean> {
      return (await db.run('DELETE FROM quarantine WHERE spiffe_id = ?', [spiffeId])).changes > 0
    },
    async retireIntermediate(serial: string, pem: string, notAfter: number, at: number): Promise<void> {
      await db.run(`INSERT INTO intermediates (serial, pem, not_after, retired_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (serial) DO UPDATE SET pem = excluded.pem, not_after = excluded.not_after, retired_at = excluded.retired_at`, [serial, pem, notAfter, at])
    },
    /** Retired intermediates that may still have live leaves under them. */
    async retiredIntermediates(now: number): Promise<string[]> {
      const rows = await db.all<Row>(`SELECT i.pem FROM intermediates i WHERE i.not_after > ?
        AND EXISTS (SELECT 1 FROM certs c WHERE c.issuer_serial = i.serial AND c.not_after > ?) ORDER BY i.retired_at`, [now, now])
      return rows.map((r) => r.pem as string)
    },
    /** Drops certificates that expired before `before` (the audit log keeps their history). */
    async pruneExpired(before: number): Promise<number> {
      return (await db.run('DELETE FROM certs WHERE not_after < ?', [before])).changes
    },
    async version(): Promise<number> {
      return Number((await db.one<Row>("SELECT value FROM meta WHERE key = 'bundle_version'"))!.value)
    },
    /** One statement: replicas bumping at once each get their own next version. */
    async bumpVersion(): Promise<number> {
      const row = await db.one<Row>("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'bundle_version' RETURNING value")
      return Number(row!.value)
    },
  }
}
