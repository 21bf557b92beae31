// Signed tree heads: one inside every commit (so each acknowledged batch is
// covered by a signature), one at every interval while idle, one on demand.
// All are kept, so a later check can tell which signed statement a tampered
// store breaks, and so name the first bad entry to within one commit.
import type { Clock, Logger, SqlExecutor, SqlStore } from '@bulwark/core'
import { signTreeHead, type SignedTreeHead } from '@bulwark/sdk/audit'
import type { AuditLog, Writer } from './log.ts'
import type { SigningKey } from './signing-key.ts'
import { AuditErrors } from './errors.ts'

type HeadRow = { tree_size: number; root_hash: string; timestamp: number; signature: string; key_id: string }

export type TreeHeads = {
  latest(): Promise<SignedTreeHead | undefined>
  /** A head covering the current tree: the latest when it does, else one signed now (a follower answers with the latest). */
  current(): Promise<SignedTreeHead>
  bySize(size: number): Promise<SignedTreeHead | undefined>
  /** Signs and stores a head for (size, root); runs inside the log's commit. */
  record(tx: SqlExecutor, size: number, root: Buffer): Promise<SignedTreeHead>
  /** Signs the current tree between commits (the writer only). */
  signNow(): Promise<SignedTreeHead>
  count(): Promise<number>
  /** The head at position `i` in signing order. */
  nth(i: number): Promise<SignedTreeHead | undefined>
  /** Deletes the heads of sizes below an archive cut (inside its transaction): they speak for archived entries. */
  dropBelow(tx: SqlExecutor, size: number): Promise<void>
  /** Takes the latest stored head's time as the floor for the next (a new leader after another's heads). */
  resume(): Promise<void>
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
  /** True while this instance is the writer. */
  writable(): boolean
  /** Runs `fn` between commits with the writer. */
  exclusive<T>(fn: (writer: Writer) => Promise<T>): Promise<T>
}

export async function createTreeHeads(store: SqlStore, key: SigningKey, deps: TreeHeadDeps): Promise<TreeHeads> {
  const withKey = (row: HeadRow | undefined): SignedTreeHead | undefined => row && {
    treeSize: row.tree_size, rootHash: row.root_hash, timestamp: row.timestamp, signature: row.signature, keyId: row.key_id, publicKey: key.publicKeyPem,
  }
  const latest = async () => withKey(await store.one<HeadRow>(`SELECT ${COLUMNS} FROM tree_heads ORDER BY id DESC LIMIT 1`))
  let lastTimestamp = (await latest())?.timestamp ?? 0
  let timer: NodeJS.Timeout | undefined

  async function record(tx: SqlExecutor, size: number, root: Buffer): Promise<SignedTreeHead> {
    const timestamp = Math.max(deps.clock.now(), lastTimestamp)
    const head = { ...signTreeHead(key.privateKey, { treeSize: size, rootHash: root, timestamp }), publicKey: key.publicKeyPem }
    await tx.run('INSERT INTO tree_heads (tree_size, root_hash, timestamp, signature, key_id) VALUES (?, ?, ?, ?, ?)', [head.treeSize, head.rootHash, head.timestamp, head.signature, head.keyId])
    lastTimestamp = timestamp
    return head
  }
  const signNow = () => deps.exclusive((writer) => writer.transaction((tx) => record(tx, deps.size(), deps.root(deps.size()))))

  return {
    latest,
    async current() {
      const head = await latest()
      if (head && (head.treeSize === deps.size() || !deps.canSign())) return head
      if (!deps.canSign()) throw AuditErrors.logTampered()
      // A follower does not sign: the writer signed a head with every commit it made.
      if (!deps.writable()) {
        if (head && head.treeSize <= deps.size()) return head
        throw AuditErrors.notLeader('no signed tree head is available at this replica yet')
      }
      return await signNow()
    },
    bySize: async (size) => withKey(await store.one<HeadRow>(`SELECT ${COLUMNS} FROM tree_heads WHERE tree_size = ? ORDER BY id DESC LIMIT 1`, [size])),
    record,
    signNow,
    count: async () => (await store.one<{ n: number }>('SELECT COUNT(*) AS n FROM tree_heads'))!.n,
    nth: async (i) => (i < 0 ? undefined : withKey(await store.one<HeadRow>(`SELECT ${COLUMNS} FROM tree_heads ORDER BY id LIMIT 1 OFFSET ?`, [i]))),
    dropBelow: async (tx, size) => { await tx.run('DELETE FROM tree_heads WHERE tree_size < ?', [size]) },
    async resume() {
      lastTimestamp = Math.max(lastTimestamp, (await latest())?.timestamp ?? 0)
    },
    ageSeconds: () => (lastTimestamp > 0 ? Math.max(0, (deps.clock.now() - lastTimestamp) / 1000) : Number.POSITIVE_INFINITY),
    start(intervalSeconds, log) {
      timer = setInterval(() => {
        if (!log.bootIntegrity.ok || !deps.canSign() || !log.writable) return
        signNow().catch((error: unknown) => deps.log.error({ err: error }, 'signing a tree head failed'))
      }, intervalSeconds * 1000)
      timer.unref()
    },
    stop() { if (timer) clearInterval(timer) },
  }
}
