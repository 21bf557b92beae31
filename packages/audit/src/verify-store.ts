// Verification of the live store against what the service itself appended
// (the in-memory tree, built from leaves as they were committed) and against
// every signed tree head. Names the first bad index: an edited row, a removed
// or moved one, one inserted, or the store cut short.
import type { SqlStore } from '@bulwark/core'
import {
  checkLeafData, checkpointStart, createRootAccumulator, frontierHeights, leafHash, verifyTreeHead, type Checkpoint, type SignedTreeHead,
} from '@bulwark/sdk/audit'
import type { AuditLog, Integrity } from './log.ts'
import type { TreeHeads } from './tree-heads.ts'

export type VerifyReport = {
  ok: boolean
  treeSize: number
  checked: number
  treeHead?: SignedTreeHead
  firstBadIndex?: number
  problem?: string
}

const CHUNK = 20_000

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

/**
 * At boot: the rebuilt tree must reproduce the signed heads. Heads only grow,
 * and once a bad entry is inside a head every later head fails too, so a
 * binary search finds the first failing head; the bad entry lies between the
 * previous head's size and its own (one commit).
 */
export async function checkTreeHeads(log: AuditLog, heads: TreeHeads, publicKeyPem: string): Promise<Integrity> {
  const count = await heads.count()
  const matches = (head: SignedTreeHead) => head.treeSize >= log.base && head.treeSize <= log.size && log.tree.root(head.treeSize).toString('hex') === head.rootHash
  let good = -1
  let bad = count
  while (bad - good > 1) {
    const mid = Math.floor((good + bad) / 2)
    if (matches((await heads.nth(mid))!)) good = mid
    else bad = mid
  }
  const latest = await heads.nth(count - 1)
  if (bad === count) {
    if (latest && !verifyTreeHead(latest, publicKeyPem)) return { ok: false, problem: 'the latest signed tree head has a bad signature' }
    return { ok: true }
  }
  const failing = (await heads.nth(bad))!
  const from = good >= 0 ? (await heads.nth(good))!.treeSize : log.base
  const when = new Date(failing.timestamp).toISOString()
  if (!verifyTreeHead(failing, publicKeyPem)) return { ok: false, firstBadIndex: from, problem: `the tree head of size ${failing.treeSize} signed at ${when} was altered` }
  if (failing.treeSize > log.size && from >= log.size) {
    return { ok: false, firstBadIndex: log.size, problem: `truncated: a tree head covers ${failing.treeSize} entries, the store holds ${log.size}` }
  }
  const last = Math.min(failing.treeSize, log.size) - 1
  return { ok: false, firstBadIndex: from, upTo: last + 1, problem: from >= last ? `entry ${from} does not match the tree head signed at ${when}` : `entries ${from} to ${last} do not match the tree head signed at ${when}` }
}

/**
 * The archive checkpoint the live log starts at: signed by the audit key, and
 * its frontier hashes to its signed root. Integrity `ok` when there is none.
 */
export function checkCheckpoint(checkpoint: Checkpoint | undefined, publicKeyPem: string): Integrity {
  if (!checkpoint) return { ok: true }
  const size = checkpoint.treeHead.treeSize
  const bad = (problem: string): Integrity => ({ ok: false, firstBadIndex: size, problem })
  if (!verifyTreeHead(checkpoint.treeHead, publicKeyPem)) return bad(`the archive checkpoint at ${size} has a bad signature`)
  if (checkpoint.frontier.length !== frontierHeights(size).length || !checkpoint.frontier.every((h) => /^[0-9a-f]{64}$/.test(h))) return bad(`the archive checkpoint at ${size} has a malformed frontier`)
  if (createRootAccumulator(checkpointStart(checkpoint)).root().toString('hex') !== checkpoint.treeHead.rootHash) {
    return bad(`the archive checkpoint at ${size}: its frontier does not hash to its signed root`)
  }
  return { ok: true }
}

export async function verifyStore(store: SqlStore, log: AuditLog, heads: TreeHeads, publicKeyPem: string, checkpoint?: Checkpoint): Promise<VerifyReport> {
  const boot = log.bootIntegrity
  if (!boot.ok) return { ok: false, treeSize: log.size, checked: 0, ...(boot.firstBadIndex === undefined ? {} : { firstBadIndex: boot.firstBadIndex }), problem: boot.problem }
  const head = await heads.current()
  const size = head.treeSize
  const base = { treeSize: size, treeHead: head }
  if (!verifyTreeHead(head, publicKeyPem) || log.tree.root(size).toString('hex') !== head.rootHash) {
    return { ...base, ok: false, checked: 0, problem: 'the latest signed tree head does not match the log' }
  }
  // Across an archive cut: the checkpoint still verifies and is where the tree starts.
  const first = log.base
  const cut = checkCheckpoint(checkpoint, publicKeyPem)
  if (!cut.ok) return { ...base, ok: false, checked: 0, firstBadIndex: first, problem: cut.problem }
  if ((checkpoint?.treeHead.treeSize ?? 0) !== first || (checkpoint && log.tree.root(first).toString('hex') !== checkpoint.treeHead.rootHash)) {
    return { ...base, ok: false, checked: 0, firstBadIndex: first, problem: `the live log starts at ${first}, not at its archive checkpoint` }
  }
  for (let start = first; start < size; start += CHUNK) {
    const end = Math.min(start + CHUNK, size)
    const rows = await log.rows(start, end)
    for (let i = start, r = 0; i < end; i++, r++) {
      const row = rows[r]
      if (!row || row.seq !== i) return { ...base, ok: false, checked: i, firstBadIndex: i, problem: `entry ${i} is missing or out of place in the store` }
      const expected = log.tree.leafView(i)
      if (!sameBytes(leafHash(row.data), expected)) return { ...base, ok: false, checked: i, firstBadIndex: i, problem: `entry ${i} was changed` }
      if (!sameBytes(row.leaf_hash, expected)) return { ...base, ok: false, checked: i, firstBadIndex: i, problem: `entry ${i}: its recorded leaf hash was changed` }
      // The hash binds the bytes; the bytes must also be exactly the canonical
      // serialization of one entry at this index (no duplicate key, no
      // whitespace, no unknown field), or readers could see another event.
      const exact = checkLeafData(row.data)
      if (!exact.ok) return { ...base, ok: false, checked: i, firstBadIndex: i, problem: `entry ${i}: ${exact.problem}` }
      if (exact.value.index !== i) return { ...base, ok: false, checked: i, firstBadIndex: i, problem: `entry ${i}: its bytes say index ${exact.value.index}` }
    }
    await new Promise((resolve) => setImmediate(resolve))
  }
  // Between commits, the tree and the table must hold the same count. A follower
  // counts below its size only: the writer may have committed more since.
  const count = await log.settled(async () => {
    const row = log.writable
      ? await store.one<{ count: number }>('SELECT COUNT(*) AS count FROM entries')
      : await store.one<{ count: number }>('SELECT COUNT(*) AS count FROM entries WHERE seq < ?', [log.size])
    return row!.count
  })
  if (count !== log.size - first) {
    return { ...base, ok: false, checked: size - first, firstBadIndex: Math.min(log.size, first + count), problem: `the store holds ${count} entries, the log ${log.size - first} (from ${first})` }
  }
  return { ...base, ok: true, checked: size - first }
}
