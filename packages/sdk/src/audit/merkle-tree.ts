// An append-only Merkle tree (RFC 6962 §2.1) kept in memory as one packed
// buffer of 32-byte hashes per level: level 0 holds the leaf hashes and level
// k the roots of the complete, aligned subtrees of 2^k leaves. Any subtree
// the RFC's recursion asks for is then a lookup or a short walk, so roots and
// proofs cost O(log n) hashes, and a million leaves take about 64 MB.
import { EMPTY_ROOT, HASH_SIZE, nodeHash, splitPoint } from './merkle-hash.ts'

type Level = { data: Buffer; count: number }

export type MerkleTree = {
  readonly size: number
  append(leafHash: Uint8Array): number
  /** Drops leaves back to `size` (undoing appends whose commit failed). */
  truncate(size: number): void
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
  if ((level.count + 1) * HASH_SIZE > level.data.length) {
    const grown = Buffer.allocUnsafe(Math.max(level.data.length * 2, 1024 * HASH_SIZE))
    level.data.copy(grown, 0, 0, level.count * HASH_SIZE)
    level.data = grown
  }
  level.data.set(hash, level.count * HASH_SIZE)
  level.count += 1
}

function at(level: Level, index: number): Buffer {
  return level.data.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE)
}

export function createMerkleTree(): MerkleTree {
  const levels: Level[] = [{ data: Buffer.alloc(0), count: 0 }]

  function leafView(index: number): Buffer {
    if (!Number.isInteger(index) || index < 0 || index >= levels[0]!.count) throw new RangeError(`leaf ${index} is out of range`)
    return at(levels[0]!, index)
  }

  function checkSize(size: number): void {
    if (!Number.isInteger(size) || size < 0 || size > levels[0]!.count) throw new RangeError(`tree size ${size} is out of range`)
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
    append(leafHash) {
      if (leafHash.length !== HASH_SIZE) throw new TypeError('a leaf hash is 32 bytes')
      push(levels[0]!, leafHash)
      let index = levels[0]!.count - 1
      let k = 0
      // Each time a node completes a pair, its parent subtree is complete too.
      while (index % 2 === 1) {
        const level = levels[k]!
        const parent = nodeHash(at(level, index - 1), at(level, index))
        if (!levels[k + 1]) levels[k + 1] = { data: Buffer.alloc(0), count: 0 }
        push(levels[k + 1]!, parent)
        index = (index - 1) / 2
        k += 1
      }
      return levels[0]!.count - 1
    },
    truncate(size) {
      checkSize(size)
      for (let k = 0; k < levels.length; k++) levels[k]!.count = Math.floor(size / 2 ** k)
    },
    leaf: (index) => Buffer.from(leafView(index)),
    leafView,
    root(size = levels[0]!.count) {
      checkSize(size)
      return size === 0 ? Buffer.from(EMPTY_ROOT) : subtree(0, size)
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
      const out: Buffer[] = []
      if (first > 0 && first < second) subproof(first, 0, second, true, out)
      return out
    },
  }
}

/** Root of a list of leaf hashes without keeping a tree: a stack of complete subtrees. */
export function createRootAccumulator(): { add(leafHash: Uint8Array): void; readonly size: number; root(): Buffer } {
  const stack: Array<{ hash: Buffer; height: number }> = []
  let size = 0
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
