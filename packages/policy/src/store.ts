// The policy store: versioned policy sets, which one is active, and the
// decision log the dry-run replays. On the component's SqlStore: its SQLite
// file by default, schema `bulwark_policy` on PostgreSQL when configured.
import { openStore, type Migration, type SqlExecutor, type SqlStore, type BootstrapMessage } from '@bulwark/core'

export type PolicySetRow = {
  version: number
  schema: string
  /** Policy id -> Cedar text. */
  policies: Record<string, string>
  digest: string
  createdAt: number
  createdBy: string
  message: string
}

export type ActiveRow = { version: number; activatedAt: number; activatedBy: string }

export type StoredDecision = {
  id: number
  time: string
  source: string
  request: { principal: { type: string; id: string }; action: { type: string; id: string }; resource: { type: string; id: string }; context: Record<string, unknown>; entities: unknown[] }
  decision: 'allow' | 'deny'
  policyVersion: string
}

export type PolicyStore = {
  /**
   * Stores a new version and makes it the active one, in one transaction.
   * With `onlyIfNoneActive`, does nothing (undefined) when a version is already
   * active: replicas seeding at once seed one version.
   */
  insertAndActivate(row: Omit<PolicySetRow, 'version'>, options?: { onlyIfNoneActive?: boolean }): Promise<number | undefined>
  getSet(version: number): Promise<PolicySetRow | undefined>
  listSets(): Promise<Array<Omit<PolicySetRow, 'schema' | 'policies'> & { policyCount: number }>>
  active(): Promise<ActiveRow | undefined>
  activate(version: number, by: string, at: number): Promise<void>
  appendDecisions(rows: Array<Omit<StoredDecision, 'id'>>, keep: number): Promise<number>
  recentDecisions(limit: number): Promise<StoredDecision[]>
  decisionCount(): Promise<number>
  /** Where the data lives (safe to log). */
  readonly location: string
  close(): Promise<void>
}

// Version 1 is the SQLite schema the store always had, so existing files carry on.
export const POLICY_MIGRATIONS: readonly Migration[] = [{
  sqlite: `CREATE TABLE policy_sets (
     version INTEGER PRIMARY KEY AUTOINCREMENT,
     schema TEXT NOT NULL, policies TEXT NOT NULL, digest TEXT NOT NULL,
     created_at INTEGER NOT NULL, created_by TEXT NOT NULL, message TEXT NOT NULL DEFAULT '');
   CREATE TABLE active (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL REFERENCES policy_sets(version),
     activated_at INTEGER NOT NULL, activated_by TEXT NOT NULL);
   CREATE TABLE decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, source TEXT NOT NULL,
     request TEXT NOT NULL, decision TEXT NOT NULL, policy_version TEXT NOT NULL);`,
  postgres: `CREATE TABLE policy_sets (
     version INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     schema TEXT NOT NULL, policies TEXT NOT NULL, digest TEXT NOT NULL,
     created_at BIGINT NOT NULL, created_by TEXT NOT NULL, message TEXT NOT NULL DEFAULT '');
   CREATE TABLE active (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL REFERENCES policy_sets(version),
     activated_at BIGINT NOT NULL, activated_by TEXT NOT NULL);
   CREATE TABLE decisions (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, time TEXT NOT NULL, source TEXT NOT NULL,
     request TEXT NOT NULL, decision TEXT NOT NULL, policy_version TEXT NOT NULL);`,
}]

/** Decisions per INSERT: well under SQLite's 32,766 bound parameters. */
const DECISION_CHUNK = 200
const SET_ACTIVE = `INSERT INTO active (id, version, activated_at, activated_by) VALUES (1, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET version = excluded.version, activated_at = excluded.activated_at, activated_by = excluded.activated_by`

type SetRecord = { version: number; schema: string; policies: string; digest: string; created_at: number; created_by: string; message: string }
const toSet = (r: SetRecord): PolicySetRow => ({
  version: r.version, schema: r.schema, policies: JSON.parse(r.policies) as Record<string, string>, digest: r.digest,
  createdAt: r.created_at, createdBy: r.created_by, message: r.message,
})

export async function openPolicyStore(options: { sqlitePath: string; storage?: BootstrapMessage['storage'] }): Promise<PolicyStore> {
  const db: SqlStore = await openStore('policy', { storage: options.storage, sqlitePath: options.sqlitePath, migrations: POLICY_MIGRATIONS })
  const setActive = (tx: SqlExecutor, version: number, by: string, at: number) => tx.run(SET_ACTIVE, [version, at, by])
  return {
    location: db.location,
    insertAndActivate(row, options = {}) {
      return db.transaction(async (tx) => {
        if (options.onlyIfNoneActive) {
          // SQLite's BEGIN IMMEDIATE already serializes writers; PostgreSQL needs a lock that conflicts with itself.
          if (tx.dialect === 'postgres') await tx.run('LOCK TABLE active IN SHARE ROW EXCLUSIVE MODE')
          if (await tx.one('SELECT version FROM active WHERE id = 1')) return undefined
        }
        const inserted = await tx.one<{ version: number }>(
          'INSERT INTO policy_sets (schema, policies, digest, created_at, created_by, message) VALUES (?, ?, ?, ?, ?, ?) RETURNING version',
          [row.schema, JSON.stringify(row.policies), row.digest, row.createdAt, row.createdBy, row.message])
        await setActive(tx, inserted!.version, row.createdBy, row.createdAt)
        return inserted!.version
      })
    },
    async getSet(version) {
      const r = await db.one<SetRecord>('SELECT * FROM policy_sets WHERE version = ?', [version])
      return r ? toSet(r) : undefined
    },
    async listSets() {
      const rows = await db.all<SetRecord>('SELECT version, digest, created_at, created_by, message, policies FROM policy_sets ORDER BY version DESC')
      return rows.map((r) => ({
        version: r.version, digest: r.digest, createdAt: r.created_at, createdBy: r.created_by, message: r.message,
        policyCount: Object.keys(JSON.parse(r.policies) as object).length,
      }))
    },
    async active() {
      const r = await db.one<{ version: number; activated_at: number; activated_by: string }>('SELECT version, activated_at, activated_by FROM active WHERE id = 1')
      return r ? { version: r.version, activatedAt: r.activated_at, activatedBy: r.activated_by } : undefined
    },
    async activate(version, by, at) {
      await setActive(db, version, by, at)
    },
    async appendDecisions(rows, keep) {
      if (keep <= 0 || rows.length === 0) return 0
      await db.transaction(async (tx) => {
        for (let i = 0; i < rows.length; i += DECISION_CHUNK) {
          const chunk = rows.slice(i, i + DECISION_CHUNK)
          await tx.run(`INSERT INTO decisions (time, source, request, decision, policy_version) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
            chunk.flatMap((r) => [r.time, r.source, JSON.stringify(r.request), r.decision, r.policyVersion]))
        }
        await tx.run('DELETE FROM decisions WHERE id <= (SELECT MAX(id) FROM decisions) - ?', [keep])
      })
      return rows.length
    },
    async recentDecisions(limit) {
      const rows = await db.all<{ id: number; time: string; source: string; request: string; decision: 'allow' | 'deny'; policy_version: string }>(
        'SELECT * FROM decisions ORDER BY id DESC LIMIT ?', [limit])
      return rows.map((r) => ({
        id: r.id, time: r.time, source: r.source, request: JSON.parse(r.request) as StoredDecision['request'], decision: r.decision, policyVersion: r.policy_version,
      }))
    },
    async decisionCount() {
      return (await db.one<{ n: number }>('SELECT COUNT(*) AS n FROM decisions'))!.n
    },
    close: () => db.close(),
  }
}
