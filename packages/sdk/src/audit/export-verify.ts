// Offline verification of an export (JSON Lines: one entry per line, closed by
// `{"treeHead":…}`). Names the first bad index for an edited, removed,
// inserted, reordered or truncated entry. When the entries only fail as a
// whole (every line self-consistent but the root differs from the signed
// one), it reports `rootMismatch` and hands back the recomputed leaf hashes so
// a caller with access to the live log can bisect with consistency proofs.
import { createMerkleTree, createRootAccumulator } from './merkle-tree.ts'
import { verifyConsistency } from './merkle-verify.ts'
import { entryLeafHash, type AuditLogEntry } from './entry.ts'
import { leafHash } from './merkle-hash.ts'
import { samePublicKey, verifyTreeHead, type SignedTreeHead } from './tree-head.ts'

export type ExportVerification = {
  ok: boolean
  /** Entries read before the verdict. */
  entries: number
  treeHead?: SignedTreeHead
  /** The first entry index that is wrong, when it can be named. */
  firstBadIndex?: number
  problem?: string
  /** True when every entry is self-consistent but together they do not hash to the signed root. */
  rootMismatch?: boolean
  /** Recomputed leaf hashes, packed 32 bytes each (only with `keepLeafHashes`). */
  leafHashes?: Buffer
}

export type VerifyExportOptions = {
  /** A key the tree head must be signed with (PEM); otherwise the key the export carries is used. */
  trustedPublicKey?: string
  keepLeafHashes?: boolean
}

function isEntryShape(value: Record<string, unknown>): boolean {
  return Number.isInteger(value.index) && typeof value.received === 'string' &&
    typeof value.event === 'object' && value.event !== null && !Array.isArray(value.event)
}

const LEAF_MEMBER = ',"leafHash":"'
const INDEX_MEMBER = ',"index":'

/**
 * Fast path for a line exactly as the log wrote it (canonical JSON with keys
 * event, index, leafHash, received): the leaf bytes are the line without its
 * leafHash member, so one hash checks it without parsing. Only a line whose
 * bytes hash to its own stated leaf hash is taken this way (anything else goes
 * the slow way); the signed root then vouches for those bytes. Top-level
 * members follow `event`, and quotes inside strings are escaped, so the last
 * occurrences of the member names are the top-level ones.
 */
function quickLeaf(line: string): { index: number; hash: Buffer } | undefined {
  const at = line.lastIndexOf(LEAF_MEMBER)
  if (at === -1 || line.charCodeAt(at + LEAF_MEMBER.length + 64) !== 34) return undefined
  const stated = line.slice(at + LEAF_MEMBER.length, at + LEAF_MEMBER.length + 64)
  const hash = leafHash(line.slice(0, at) + line.slice(at + LEAF_MEMBER.length + 65))
  if (hash.toString('hex') !== stated) return undefined
  const i = line.lastIndexOf(INDEX_MEMBER, at)
  const digits = i === -1 ? '' : line.slice(i + INDEX_MEMBER.length, at)
  if (!/^\d{1,16}$/.test(digits)) return undefined
  return { index: Number(digits), hash }
}

export async function verifyExport(lines: AsyncIterable<string> | Iterable<string>, options: VerifyExportOptions = {}): Promise<ExportVerification> {
  const acc = createRootAccumulator()
  const hashes: Buffer[] = []
  let position = 0
  let treeHead: SignedTreeHead | undefined
  const fail = (problem: string, firstBadIndex?: number): ExportVerification =>
    ({ ok: false, entries: position, problem, ...(firstBadIndex === undefined ? {} : { firstBadIndex }), ...(treeHead ? { treeHead } : {}) })

  for await (const raw of lines) {
    const line = raw.trim()
    if (line.length === 0) continue
    if (treeHead) return fail(`data after the tree head at entry ${position}`, Math.min(position, treeHead.treeSize))
    const quick = quickLeaf(line)
    let hash: Buffer
    if (quick && quick.index === position) {
      hash = quick.hash
    } else {
      let value: Record<string, unknown>
      try {
        value = JSON.parse(line) as Record<string, unknown>
      } catch {
        return fail(`entry ${position}: not valid JSON`, position)
      }
      if (typeof value !== 'object' || value === null) return fail(`entry ${position}: not an object`, position)
      if ('treeHead' in value) {
        treeHead = value.treeHead as SignedTreeHead
        continue
      }
      if (!isEntryShape(value)) return fail(`entry ${position}: not an audit log entry`, position)
      if (value.index !== position) return fail(`entry ${position}: found index ${String(value.index)} where ${position} belongs`, position)
      hash = entryLeafHash(value as unknown as AuditLogEntry)
      if (typeof value.leafHash === 'string' && value.leafHash !== hash.toString('hex')) {
        return fail(`entry ${position}: content does not match its leaf hash`, position)
      }
    }
    acc.add(hash)
    if (options.keepLeafHashes) hashes.push(hash)
    position += 1
  }

  if (!treeHead || typeof treeHead !== 'object') return fail(`truncated: no signed tree head after entry ${position - 1}`, position)
  const key = options.trustedPublicKey ?? treeHead.publicKey
  if (!key) return fail('the tree head carries no public key and none was given')
  if (options.trustedPublicKey && treeHead.publicKey && !samePublicKey(options.trustedPublicKey, treeHead.publicKey)) {
    return fail('the export is signed by a key other than the audit service\'s')
  }
  if (!verifyTreeHead(treeHead, key)) return fail('the tree head signature does not verify')
  if (treeHead.treeSize > position) return fail(`truncated: the tree head covers ${treeHead.treeSize} entries, the file holds ${position}`, position)
  if (treeHead.treeSize < position) return fail(`entries beyond the tree head: it covers ${treeHead.treeSize}, the file holds ${position}`, treeHead.treeSize)
  const root = acc.root().toString('hex')
  if (root !== treeHead.rootHash) {
    return {
      ...fail('the entries do not hash to the signed root'),
      rootMismatch: true,
      ...(options.keepLeafHashes ? { leafHashes: Buffer.concat(hashes) } : {}),
    }
  }
  return { ok: true, entries: position, treeHead, ...(options.keepLeafHashes ? { leafHashes: Buffer.concat(hashes) } : {}) }
}


/**
 * Finds the first bad entry of an export whose entries only fail as a whole,
 * by bisecting with consistency proofs from the live log: a prefix of k
 * recomputed leaves is good exactly when its root is consistent with the
 * trusted (signed) root of size n, so the first bad index is the largest good k.
 */
export async function bisectFirstBadIndex(
  leafHashes: Buffer, size: number, trustedRoot: Uint8Array,
  consistencyProof: (first: number) => Promise<Buffer[]>,
): Promise<number> {
  const tree = createMerkleTree()
  for (let i = 0; i < size; i++) tree.append(leafHashes.subarray(i * 32, (i + 1) * 32))
  let good = 0
  let bad = size
  while (bad - good > 1) {
    const mid = Math.floor((good + bad) / 2)
    const proof = await consistencyProof(mid)
    if (verifyConsistency(mid, size, tree.root(mid), trustedRoot, proof)) good = mid
    else bad = mid
  }
  return good
}
