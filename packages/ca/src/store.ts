// The CA's inventory on node:sqlite: issued certificates, hashed join tokens,
// quarantined identities, retired intermediates and the bundle version.
import type { Database } from '@bulwark/core'

const MIGRATIONS = [
  `CREATE TABLE certs (
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
]

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

export function createCaStore(db: Database) {
  migrate(db)
  const insertCert = db.prepare(`INSERT INTO certs (serial, spiffe_id, kind, via, issuer_serial, not_before, not_after, issued_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
  const getCert = db.prepare('SELECT * FROM certs WHERE serial = ?')
  const revokeCert = db.prepare('UPDATE certs SET revoked_at = ?, revoke_reason = ? WHERE serial = ? AND revoked_at IS NULL')
  const liveRevoked = db.prepare('SELECT serial FROM certs WHERE revoked_at IS NOT NULL AND not_after > ? ORDER BY serial')
  const insertToken = db.prepare('INSERT INTO join_tokens (hash, spiffe_id, created_at, expires_at, created_by) VALUES (?, ?, ?, ?, ?)')
  const getToken = db.prepare('SELECT * FROM join_tokens WHERE hash = ?')
  const useToken = db.prepare('UPDATE join_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?')
  const purgeTokens = db.prepare('DELETE FROM join_tokens WHERE expires_at < ?')
  const getVersion = db.prepare("SELECT value FROM meta WHERE key = 'bundle_version'")
  const bumpVersion = db.prepare("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'bundle_version'")

  return {
    recordCert(cert: Omit<CertRecord, 'revokedAt' | 'revokeReason'>): void {
      insertCert.run(cert.serial, cert.spiffeId, cert.kind, cert.via, cert.issuerSerial, cert.notBefore, cert.notAfter, cert.issuedAt)
    },
    cert(serial: string): CertRecord | undefined {
      const row = getCert.get(serial) as Row | undefined
      return row ? toCert(row) : undefined
    },
    /** True when this call revoked it (false if it already was). */
    revoke(serial: string, at: number, reason: string): boolean {
      return Number(revokeCert.run(at, reason, serial).changes) > 0
    },
    /** Serials revoked and not yet expired: what peers must refuse. */
    revokedSerials(now: number): string[] {
      return (liveRevoked.all(now) as Row[]).map((r) => r.serial as string)
    },
    listCerts(filter: { spiffeId?: string; activeAt?: number; limit: number }): CertRecord[] {
      const where: string[] = []
      const args: Array<string | number> = []
      if (filter.spiffeId) { where.push('spiffe_id = ?'); args.push(filter.spiffeId) }
      if (filter.activeAt !== undefined) { where.push('not_after > ? AND revoked_at IS NULL'); args.push(filter.activeAt) }
      const sql = `SELECT * FROM certs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY issued_at DESC, serial LIMIT ?`
      return (db.prepare(sql).all(...args, filter.limit) as Row[]).map(toCert)
    },
    addJoinToken(token: { hash: string; spiffeId: string; createdAt: number; expiresAt: number; createdBy: string }): void {
      purgeTokens.run(token.createdAt - 24 * 3600_000)
      insertToken.run(token.hash, token.spiffeId, token.createdAt, token.expiresAt, token.createdBy)
    },
    joinToken(hash: string): JoinTokenRecord | undefined {
      const row = getToken.get(hash) as Row | undefined
      if (!row) return undefined
      return { hash, spiffeId: row.spiffe_id as string, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at), usedAt: row.used_at === null ? null : Number(row.used_at) }
    },
    /** Marks the token used; false when it was used or expired in the meantime. */
    consumeJoinToken(hash: string, now: number): boolean {
      return Number(useToken.run(now, hash, now).changes) > 0
    },
    quarantined(): string[] {
      return (db.prepare('SELECT spiffe_id FROM quarantine ORDER BY spiffe_id').all() as Row[]).map((r) => r.spiffe_id as string)
    },
    quarantine(spiffeId: string, at: number, by: string): boolean {
      return Number(db.prepare('INSERT OR IGNORE INTO quarantine (spiffe_id, since, by) VALUES (?, ?, ?)').run(spiffeId, at, by).changes) > 0
    },
    release(spiffeId: string): boolean {
      return Number(db.prepare('DELETE FROM quarantine WHERE spiffe_id = ?').run(spiffeId).changes) > 0
    },
    retireIntermediate(serial: string, pem: string, notAfter: number, at: number): void {
      db.prepare('INSERT OR REPLACE INTO intermediates (serial, pem, not_after, retired_at) VALUES (?, ?, ?, ?)').run(serial, pem, notAfter, at)
    },
    /** Retired intermediates that may still have live leaves under them. */
    retiredIntermediates(now: number): string[] {
      const rows = db.prepare(`SELECT i.pem FROM intermediates i WHERE i.not_after > ?
        AND EXISTS (SELECT 1 FROM certs c WHERE c.issuer_serial = i.serial AND c.not_after > ?) ORDER BY i.retired_at`).all(now, now) as Row[]
      return rows.map((r) => r.pem as string)
    },
    /** Drops certificates that expired before `before` (the audit log keeps their history). */
    pruneExpired(before: number): number {
      return Number(db.prepare('DELETE FROM certs WHERE not_after < ?').run(before).changes)
    },
    version(): number {
      return Number((getVersion.get() as Row).value)
    },
    bumpVersion(): number {
      bumpVersion.run()
      return this.version()
    },
  }
}

function migrate(db: Database): void {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number }
  for (let version = row.user_version; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!)
      db.exec(`PRAGMA user_version = ${version + 1}`)
    })
  }
}
