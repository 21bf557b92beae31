// Identity's store: its SQLite file by default, schema `bulwark_identity` on
// PostgreSQL when the bootstrap carries a URL. Ids, codes and tokens appear
// only as keyed hashes; payloads, PII, TOTP secrets and signing keys are sealed.
import { openStore, type BootstrapMessage, type Migration, type SqlExecutor, type SqlStore } from '@bulwark/core'

// Version 1 is the SQLite schema identity always had (existing files carry on); PostgreSQL gets the
// same tables with BIGINT millisecond times and an identity column for the revocation feed's positions.
export const IDENTITY_MIGRATIONS: readonly Migration[] = [{
  sqlite: `CREATE TABLE oidc (
     model TEXT NOT NULL, id_hash TEXT NOT NULL, payload TEXT NOT NULL,
     grant_hash TEXT, user_code_hash TEXT, uid_hash TEXT, account_id TEXT,
     consumed INTEGER, expires_at INTEGER,
     PRIMARY KEY (model, id_hash)) WITHOUT ROWID;
   CREATE INDEX oidc_grant ON oidc(grant_hash) WHERE grant_hash IS NOT NULL;
   CREATE INDEX oidc_user_code ON oidc(user_code_hash) WHERE user_code_hash IS NOT NULL;
   CREATE INDEX oidc_uid ON oidc(uid_hash) WHERE uid_hash IS NOT NULL;
   CREATE INDEX oidc_account ON oidc(account_id) WHERE account_id IS NOT NULL;
   CREATE INDEX oidc_expiry ON oidc(expires_at);
   CREATE TABLE users (
     id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
     roles TEXT NOT NULL, display_name TEXT, email TEXT,
     totp_secret TEXT, totp_last_step INTEGER, mfa_required INTEGER NOT NULL DEFAULT 0,
     disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
   CREATE TABLE clients (client_id TEXT PRIMARY KEY, metadata TEXT NOT NULL, created_at INTEGER NOT NULL);
   CREATE TABLE login_failures (key TEXT NOT NULL, at INTEGER NOT NULL);
   CREATE INDEX login_failures_key ON login_failures(key, at);
   CREATE TABLE lockouts (key TEXT PRIMARY KEY, until INTEGER NOT NULL, reason TEXT NOT NULL);
   CREATE TABLE revocations (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, value TEXT NOT NULL,
     revoked_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
   CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, alg TEXT NOT NULL, state TEXT NOT NULL, jwk TEXT NOT NULL,
     created_at INTEGER NOT NULL, retire_until INTEGER);
   CREATE TABLE grant_jtis (grant_hash TEXT NOT NULL, jti TEXT NOT NULL, exp INTEGER NOT NULL);
   CREATE INDEX grant_jtis_grant ON grant_jtis(grant_hash);
   CREATE TABLE mfa_pending (uid_hash TEXT PRIMARY KEY, account_id TEXT NOT NULL, enrol_secret TEXT, expires_at INTEGER NOT NULL);`,
  postgres: `CREATE TABLE oidc (
     model TEXT NOT NULL, id_hash TEXT NOT NULL, payload TEXT NOT NULL,
     grant_hash TEXT, user_code_hash TEXT, uid_hash TEXT, account_id TEXT,
     consumed BIGINT, expires_at BIGINT,
     PRIMARY KEY (model, id_hash));
   CREATE INDEX oidc_grant ON oidc(grant_hash) WHERE grant_hash IS NOT NULL;
   CREATE INDEX oidc_user_code ON oidc(user_code_hash) WHERE user_code_hash IS NOT NULL;
   CREATE INDEX oidc_uid ON oidc(uid_hash) WHERE uid_hash IS NOT NULL;
   CREATE INDEX oidc_account ON oidc(account_id) WHERE account_id IS NOT NULL;
   CREATE INDEX oidc_expiry ON oidc(expires_at);
   CREATE TABLE users (
     id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
     roles TEXT NOT NULL, display_name TEXT, email TEXT,
     totp_secret TEXT, totp_last_step BIGINT, mfa_required INTEGER NOT NULL DEFAULT 0,
     disabled INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
   CREATE TABLE clients (client_id TEXT PRIMARY KEY, metadata TEXT NOT NULL, created_at BIGINT NOT NULL);
   CREATE TABLE login_failures (key TEXT NOT NULL, at BIGINT NOT NULL);
   CREATE INDEX login_failures_key ON login_failures(key, at);
   CREATE TABLE lockouts (key TEXT PRIMARY KEY, until BIGINT NOT NULL, reason TEXT NOT NULL);
   CREATE TABLE revocations (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL,
     revoked_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);
   CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, alg TEXT NOT NULL, state TEXT NOT NULL, jwk TEXT NOT NULL,
     created_at BIGINT NOT NULL, retire_until BIGINT);
   CREATE TABLE grant_jtis (grant_hash TEXT NOT NULL, jti TEXT NOT NULL, exp BIGINT NOT NULL);
   CREATE INDEX grant_jtis_grant ON grant_jtis(grant_hash);
   CREATE TABLE mfa_pending (uid_hash TEXT PRIMARY KEY, account_id TEXT NOT NULL, enrol_secret TEXT, expires_at BIGINT NOT NULL);`,
}]

export type IdentityStoreOptions = { sqlitePath: string; storage?: BootstrapMessage['storage'] }

/** NORMAL on SQLite, as before: a process crash loses nothing (WAL), a power loss at most the last commits. */
export async function openIdentityStore(options: IdentityStoreOptions): Promise<SqlStore> {
  return await openStore('identity', { storage: options.storage, sqlitePath: options.sqlitePath, migrations: IDENTITY_MIGRATIONS, synchronous: 'NORMAL' })
}

/**
 * Serializes a read-modify-write across replicas: a transaction-scoped advisory lock on PostgreSQL
 * (released at commit or rollback). On SQLite, `BEGIN IMMEDIATE` already makes writers take turns.
 */
export async function lockFor(tx: SqlExecutor, name: string): Promise<void> {
  if (tx.dialect === 'postgres') await tx.run("SELECT pg_advisory_xact_lock(hashtextextended(?, 0)) AS locked", [`bulwark_identity:${name}`])
}
