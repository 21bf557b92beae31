// An append-only Merkle tree (RFC 6962 §2.1) kept in memory as one packed
// buffer of 32-byte hashes per level: level 0 holds the leaf hashes and level
// k the roots of the complete, aligned subtrees of 2^k leaves. Any subtree
// the RFC's recursion asks for is then a lookup or a short walk, so roots and
// proofs cost O(log n) hashes, and a million leaves take about 64 MB.
//
// A tree can start at an archive cut (a checkpoint): leaves [0, base) are gone
// and only the frontier of `base` is kept, the roots of the aligned complete
// subtrees that `base` splits into (one per set bit, largest first). Every
// root of a size >= base, every proof for a leaf >= base and every
// consistency proof from a size >= base needs nothing older than those: the
// left siblings on any such path are frontier subtrees or lie past the cut.
import { EMPTY_ROOT, HASH_SIZE, nodeHash, splitPoint } from './merkle-hash.ts'

/** Nodes of one level with absolute indices [start, count); `data` holds them from `start` on. */
type Level = { data: Buffer; start: number; count: number }

/** Where a tree starts after an archive cut: `size` leaves and the frontier hashes of that size, largest subtree first. */
export type TreeStart = { size: number; frontier: readonly Uint8Array[] }

export type MerkleTree = {
  readonly size: number
  append(leafHash: Uint8Array): number
  /** The first leaf still held (0, or the size of the archive cut the tree starts at). */
  readonly base: number
  /** Drops leaves back to `size` (undoing appends whose commit failed). */
  truncate(size: number): void
  /** Forgets leaves [base, size): the tree then starts at a cut of `size` (see TreeStart). */
  prune(size: number): void
  /** The frontier of `size` (default: all): hashes of the aligned complete subtrees it splits into, largest first. */
  frontier(size?: number): Buffer[]
  leaf(index: number): Buffer
  /** Like leaf, without a copy: valid until the next append. */
  leafView(index: number): Buffer
  /** MTH of the first `size` leaves (default: all). */
  root(size?: number): Buffer
  /** RFC 6962 §2.1.1 audit path for leaf `index` in the tree of `size` leaves. */
  inclusionProof(index: number, size?: number): Buffer[]
  /** RFC 6962 §2.1.2 consistency proof between sizes `first` and `second`. */
  consistencyProof(first: number, second?: number): Buffer[]
}

function push(level: Level, hash: Uint8Array): void {
  const held = level.count - level.start
  if ((held + 1) * HASH_SIZE > level.data.length) {
    const grown = Buffer.allocUnsafe(Math.max(level.data.length * 2, 1024 * HASH_SIZE))
    level.data.copy(grown, 0, 0, held * HASH_SIZE)
    level.data = grown
  }
  level.data.set(hash, held * HASH_SIZE)
  level.count += 1
}

function at(level: Level, index: number): Buffer {
  if (index < level.start) throw new RangeError('a subtree before the archive cut was asked for')
  const offset = (index - level.start) * HASH_SIZE
  return level.data.subarray(offset, offset + HASH_SIZE)
}

const bitLength = (n: number) => (n === 0 ? 0 : Math.floor(Math.log2(n)) + 1)

/** Set bits of `size`, largest first: the heights of its frontier subtrees. */
export function frontierHeights(size: number): number[] {
  const out: number[] = []
  for (let k = bitLength(size) - 1; k >= 0; k--) if (Math.floor(size / 2 ** k) % 2 === 1) out.push(k)
  return out
}

export function createMerkleTree(start?: TreeStart): MerkleTree {
  const levels: Level[] = [{ data: Buffer.alloc(0), start: 0, count: 0 }]
  let base = 0
  const level = (k: number): Level => {
    while (levels.length <= k) {
      const at = Math.floor(base / 2 ** levels.length)
      levels.push({ data: Buffer.alloc(0), start: at, count: at })
    }
    return levels[k]!
  }
  if (start && start.size > 0) {
    const heights = frontierHeights(start.size)
    if (!Number.isSafeInteger(start.size) || start.frontier.length !== heights.length) throw new RangeError(`a tree of ${start.size} leaves has a frontier of ${heights.length} hashes`)
    base = start.size
    levels.length = 0
    heights.forEach((k, i) => {
      const index = Math.floor(base / 2 ** k)
      const l = level(k)
      l.start = index - 1
      l.count = index - 1
      push(l, start.frontier[i]!)
    })
    level(0)
  }

  function leafView(index: number): Buffer {
    if (!Number.isInteger(index) || index < base || index >= levels[0]!.count) throw new RangeError(`leaf ${index} is out of range${index < base ? ' (archived)' : ''}`)
    return at(levels[0]!, index)
  }

  function checkSize(size: number): void {
    if (!Number.isInteger(size) || size < base || size > levels[0]!.count) throw new RangeError(`tree size ${size} is out of range${size < base ? ' (archived)' : ''}`)
  }

  /** MTH(D[lo:hi]) for hi > lo. */
  function subtree(lo: number, hi: number): Buffer {
    const n = hi - lo
    if ((n & (n - 1)) === 0 && lo % n === 0) {
      const k = Math.log2(n)
      return Buffer.from(at(levels[k]!, lo / n))
    }
    const k = splitPoint(n)
    return nodeHash(subtree(lo, lo + k), subtree(lo + k, hi))
  }

  function path(m: number, lo: number, hi: number, out: Buffer[]): void {
    const n = hi - lo
    if (n <= 1) return
    const k = splitPoint(n)
    if (m < k) {
      path(m, lo, lo + k, out)
      out.push(subtree(lo + k, hi))
    } else {
      path(m - k, lo + k, hi, out)
      out.push(subtree(lo, lo + k))
    }
  }

  function subproof(m: number, lo: number, hi: number, complete: boolean, out: Buffer[]): void {
    const n = hi - lo
    if (m === n) {
      if (!complete) out.push(subtree(lo, hi))
      return
    }
    const k = splitPoint(n)
    if (m <= k) {
      subproof(m, lo, lo + k, complete, out)
      out.push(subtree(lo + k, hi))
    } else {
      subproof(m - k, lo + k, hi, false, out)
      out.push(subtree(lo, lo + k))
    }
  }

  return {
    get size() { return levels[0]!.count },
    get base() { return base },
    append(leafHash) {
      if (leafHash.length !== HASH_SIZE) throw new TypeError('a leaf hash is 32 bytes')
      push(levels[0]!, leafHash)
      let index = levels[0]!.count - 1
      let k = 0
      // Each time a node completes a pair, its parent subtree is complete too.
      while (index % 2 === 1) {
        const current = levels[k]!
        const parent = nodeHash(at(current, index - 1), at(current, index))
        push(level(k + 1), parent)
        index = (index - 1) / 2
        k += 1
      }
      return levels[0]!.count - 1
    },
    truncate(size) {
      checkSize(size)
      for (let k = 0; k < levels.length; k++) levels[k]!.count = Math.max(levels[k]!.start, Math.floor(size / 2 ** k))
    },
    prune(size) {
      checkSize(size)
      for (let k = 0; k < levels.length; k++) {
        const l = levels[k]!
        // From the frontier node of this height (when `size` has that bit) on.
        const index = Math.floor(size / 2 ** k)
        const keep = Math.max(l.start, index - (index % 2))
        const held = l.count - keep
        const data = Buffer.allocUnsafe(Math.max(held, 1024) * HASH_SIZE)
        l.data.copy(data, 0, (keep - l.start) * HASH_SIZE, (l.count - l.start) * HASH_SIZE)
        l.data = data
        l.start = keep
      }
      base = size
    },
    frontier(size = levels[0]!.count) {
      checkSize(size)
      return frontierHeights(size).map((k) => Buffer.from(at(level(k), Math.floor(size / 2 ** k) - 1)))
    },
    leaf: (index) => Buffer.from(leafView(index)),
    leafView,
    root(size = levels[0]!.count) {
      if (size === 0) return Buffer.from(EMPTY_ROOT)
      checkSize(size)
      return subtree(0, size)
    },
    inclusionProof(index, size = levels[0]!.count) {
      checkSize(size)
      if (!Number.isInteger(index) || index < 0 || index >= size) throw new RangeError(`leaf ${index} is not in a tree of ${size}`)
      const out: Buffer[] = []
      path(index, 0, size, out)
      return out
    },
    consistencyProof(first, second = levels[0]!.count) {
      checkSize(second)
      if (!Number.isInteger(first) || first < 0 || first > second) throw new RangeError(`size ${first} is not within ${second}`)
      if (first > 0 && first < base) throw new RangeError(`size ${first} is before the archive cut at ${base}`)
      const out: Buffer[] = []
      if (first > 0 && first < second) subproof(first, 0, second, true, out)
      return out
    },
  }
}

/** Root of a list of leaf hashes without keeping a tree: a stack of complete subtrees (the frontier), optionally starting at a cut. */
export function createRootAccumulator(start?: TreeStart): { add(leafHash: Uint8Array): void; readonly size: number; root(): Buffer } {
  const heights = start ? frontierHeights(start.size) : []
  if (start && start.frontier.length !== heights.length) throw new RangeError(`a tree of ${start.size} leaves has a frontier of ${heights.length} hashes`)
  const stack: Array<{ hash: Buffer; height: number }> = heights.map((height, i) => ({ hash: Buffer.from(start!.frontier[i]!), height }))
  let size = start?.size ?? 0
  return {
    add(leaf) {
      let node: { hash: Buffer; height: number } = { hash: Buffer.from(leaf), height: 0 }
      size += 1
      while (stack.length > 0 && stack[stack.length - 1]!.height === node.height) {
        const left = stack.pop()!
        node = { hash: nodeHash(left.hash, node.hash), height: node.height + 1 }
      }
      stack.push(node)
    },
    get size() { return size },
    root() {
      if (stack.length === 0) return Buffer.from(EMPTY_ROOT)
      let hash = stack[stack.length - 1]!.hash
      for (let i = stack.length - 2; i >= 0; i--) hash = nodeHash(stack[i]!.hash, hash)
      return hash
    },
  }
}
