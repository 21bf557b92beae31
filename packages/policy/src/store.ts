// Embedded store: versioned policy sets, which one is active, and the
// decision log the dry-run replays. One SQLite file (node:sqlite).
import { openDatabase, type Database } from '@bulwark/core'

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
  insertSet(row: Omit<PolicySetRow, 'version'>): number
  getSet(version: number): PolicySetRow | undefined
  listSets(): Array<Omit<PolicySetRow, 'schema' | 'policies'> & { policyCount: number }>
  active(): ActiveRow | undefined
  activate(version: number, by: string, at: number): void
  appendDecisions(rows: Array<Omit<StoredDecision, 'id'>>, keep: number): number
  recentDecisions(limit: number): StoredDecision[]
  decisionCount(): number
  close(): void
}

const MIGRATIONS = [
  `CREATE TABLE policy_sets (
     version INTEGER PRIMARY KEY AUTOINCREMENT,
     schema TEXT NOT NULL, policies TEXT NOT NULL, digest TEXT NOT NULL,
     created_at INTEGER NOT NULL, created_by TEXT NOT NULL, message TEXT NOT NULL DEFAULT '');
   CREATE TABLE active (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL REFERENCES policy_sets(version),
     activated_at INTEGER NOT NULL, activated_by TEXT NOT NULL);
   CREATE TABLE decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, source TEXT NOT NULL,
     request TEXT NOT NULL, decision TEXT NOT NULL, policy_version TEXT NOT NULL);`,
]

export function openPolicyStore(path: string): PolicyStore {
  const db: Database = openDatabase(path, { migrations: MIGRATIONS })
  const insertSet = db.prepare('INSERT INTO policy_sets (schema, policies, digest, created_at, created_by, message) VALUES (?, ?, ?, ?, ?, ?)')
  const getSet = db.prepare('SELECT * FROM policy_sets WHERE version = ?')
  const listSets = db.prepare('SELECT version, digest, created_at, created_by, message, policies FROM policy_sets ORDER BY version DESC')
  const getActive = db.prepare('SELECT version, activated_at, activated_by FROM active WHERE id = 1')
  const setActive = db.prepare('INSERT INTO active (id, version, activated_at, activated_by) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET version = excluded.version, activated_at = excluded.activated_at, activated_by = excluded.activated_by')
  const insertDecision = db.prepare('INSERT INTO decisions (time, source, request, decision, policy_version) VALUES (?, ?, ?, ?, ?)')
  const pruneDecisions = db.prepare('DELETE FROM decisions WHERE id <= (SELECT MAX(id) FROM decisions) - ?')
  const recent = db.prepare('SELECT * FROM decisions ORDER BY id DESC LIMIT ?')
  const count = db.prepare('SELECT COUNT(*) AS n FROM decisions')

  type SetRecord = { version: number; schema: string; policies: string; digest: string; created_at: number; created_by: string; message: string }
  const toSet = (r: SetRecord): PolicySetRow => ({
    version: r.version, schema: r.schema, policies: JSON.parse(r.policies) as Record<string, string>, digest: r.digest,
    createdAt: r.created_at, createdBy: r.created_by, message: r.message,
  })
  return {
    insertSet(row) {
      const result = insertSet.run(row.schema, JSON.stringify(row.policies), row.digest, row.createdAt, row.createdBy, row.message)
      return Number(result.lastInsertRowid)
    },
    getSet(version) {
      const r = getSet.get(version) as SetRecord | undefined
      return r ? toSet(r) : undefined
    },
    listSets() {
      return (listSets.all() as unknown as SetRecord[]).map((r) => ({
        version: r.version, digest: r.digest, createdAt: r.created_at, createdBy: r.created_by, message: r.message,
        policyCount: Object.keys(JSON.parse(r.policies) as object).length,
      }))
    },
    active() {
      const r = getActive.get() as { version: number; activated_at: number; activated_by: string } | undefined
      return r ? { version: r.version, activatedAt: r.activated_at, activatedBy: r.activated_by } : undefined
    },
    activate(version, by, at) {
      setActive.run(version, at, by)
    },
    appendDecisions(rows, keep) {
      if (keep <= 0 || rows.length === 0) return 0
      db.transaction(() => {
        for (const r of rows) insertDecision.run(r.time, r.source, JSON.stringify(r.request), r.decision, r.policyVersion)
        pruneDecisions.run(keep)
      })
      return rows.length
    },
    recentDecisions(limit) {
      return (recent.all(limit) as Array<{ id: number; time: string; source: string; request: string; decision: 'allow' | 'deny'; policy_version: string }>).map((r) => ({
        id: r.id, time: r.time, source: r.source, request: JSON.parse(r.request) as StoredDecision['request'], decision: r.decision, policyVersion: r.policy_version,
      }))
    },
    decisionCount: () => (count.get() as { n: number }).n,
    close: () => db.close(),
  }
}
