// Proof verification exactly as RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
// (consistency) describe it, so a client needs nothing but hashes it already
// trusts (a signed tree head) to check what the log tells it.
import { nodeHash } from './merkle-hash.ts'

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

/** True when `proof` shows `leafHash` at `index` in the tree of `size` leaves with root `root`. */
export function verifyInclusion(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) return false
  let fn = index
  let sn = size - 1
  let r: Uint8Array = leafHash
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && same(r, root)
}

/** True when `proof` shows the tree of `first` leaves (root `firstRoot`) is a prefix of the tree of `second` (root `secondRoot`). */
export function verifyConsistency(first: number, second: number, firstRoot: Uint8Array, secondRoot: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!Number.isInteger(first) || !Number.isInteger(second) || first < 0 || first > second) return false
  if (first === second) return proof.length === 0 && same(firstRoot, secondRoot)
  if (first === 0) return proof.length === 0
  let path = [...proof]
  if ((first & (first - 1)) === 0) path = [firstRoot, ...path]
  if (path.length === 0) return false
  let fn = first - 1
  let sn = second - 1
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr: Uint8Array = path[0]!
  let sr: Uint8Array = path[0]!
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return same(fr, firstRoot) && same(sr, secondRoot) && sn === 0
}
