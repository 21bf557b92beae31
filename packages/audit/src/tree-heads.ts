// Signed tree heads: one inside every commit (so each acknowledged batch is
// covered by a signature), one at every interval while idle, one on demand.
// All are kept, so a later check can tell which signed statement a tampered
// store breaks, and so name the first bad entry to within one commit.
import type { Clock, Database, Logger } from '@bulwark/core'
import { signTreeHead, type SignedTreeHead } from '@bulwark/sdk/audit'
import type { AuditLog } from './log.ts'
import type { SigningKey } from './signing-key.ts'
import { AuditErrors } from './errors.ts'

type HeadRow = { tree_size: number; root_hash: string; timestamp: number; signature: string; key_id: string }

export type TreeHeads = {
  latest(): SignedTreeHead | undefined
  /** A head covering the current tree: the latest when it does, else one signed now. */
  current(): SignedTreeHead
  bySize(size: number): SignedTreeHead | undefined
  /** Signs and stores a head for (size, root); runs inside the log's commit. */
  record(size: number, root: Buffer): SignedTreeHead
  signNow(): SignedTreeHead
  count(): number
  /** The head at position `i` in signing order. */
  nth(i: number): SignedTreeHead | undefined
  /** Deletes the heads of sizes below an archive cut (inside its transaction): they speak for archived entries. */
  dropBelow(size: number): void
  /** Seconds since the latest head was signed (Infinity before the first). */
  ageSeconds(): number
  start(intervalSeconds: number, log: AuditLog): void
  stop(): void
}

const COLUMNS = 'tree_size, root_hash, timestamp, signature, key_id'

export type TreeHeadDeps = {
  clock: Clock
  log: Logger
  size(): number
  root(size: number): Buffer
  /** False once the store failed verification: nothing more is signed over it. */
  canSign(): boolean
}

export function createTreeHeads(db: Database, key: SigningKey, deps: TreeHeadDeps): TreeHeads {
  const insert = db.prepare('INSERT INTO tree_heads (tree_size, root_hash, timestamp, signature, key_id) VALUES (?, ?, ?, ?, ?)')
  const latestRow = db.prepare(`SELECT ${COLUMNS} FROM tree_heads ORDER BY id DESC LIMIT 1`)
  const sizeRow = db.prepare(`SELECT ${COLUMNS} FROM tree_heads WHERE tree_size = ? ORDER BY id DESC LIMIT 1`)
  const nthRow = db.prepare(`SELECT ${COLUMNS} FROM tree_heads ORDER BY id LIMIT 1 OFFSET ?`)
  const countRow = db.prepare('SELECT COUNT(*) AS n FROM tree_heads')
  const dropRows = db.prepare('DELETE FROM tree_heads WHERE tree_size < ?')
  const withKey = (row: HeadRow | undefined): SignedTreeHead | undefined => row && {
    treeSize: row.tree_size, rootHash: row.root_hash, timestamp: row.timestamp, signature: row.signature, keyId: row.key_id, publicKey: key.publicKeyPem,
  }
  const latest = () => withKey(latestRow.get() as HeadRow | undefined)
  let lastTimestamp = latest()?.timestamp ?? 0
  let timer: NodeJS.Timeout | undefined

  function record(size: number, root: Buffer): SignedTreeHead {
    const timestamp = Math.max(deps.clock.now(), lastTimestamp)
    const head = { ...signTreeHead(key.privateKey, { treeSize: size, rootHash: root, timestamp }), publicKey: key.publicKeyPem }
    insert.run(head.treeSize, head.rootHash, head.timestamp, head.signature, head.keyId)
    lastTimestamp = timestamp
    return head
  }
  const signNow = () => record(deps.size(), deps.root(deps.size()))

  return {
    latest,
    current() {
      const head = latest()
      if (head && (head.treeSize === deps.size() || !deps.canSign())) return head
      if (!deps.canSign()) throw AuditErrors.logTampered()
      return signNow()
    },
    bySize: (size) => withKey(sizeRow.get(size) as HeadRow | undefined),
    record,
    signNow,
    count: () => (countRow.get() as { n: number }).n,
    nth: (i) => withKey(nthRow.get(i) as HeadRow | undefined),
    dropBelow: (size) => { dropRows.run(size) },
    ageSeconds: () => (lastTimestamp > 0 ? Math.max(0, (deps.clock.now() - lastTimestamp) / 1000) : Number.POSITIVE_INFINITY),
    start(intervalSeconds, log) {
      timer = setInterval(() => {
        try { if (log.bootIntegrity.ok && deps.canSign()) signNow() } catch (error) { deps.log.error({ err: error }, 'signing a tree head failed') }
      }, intervalSeconds * 1000)
      timer.unref()
    },
    stop() { if (timer) clearInterval(timer) },
  }
}
