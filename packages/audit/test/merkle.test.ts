import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  createMerkleTree, createRootAccumulator, leafHash, nodeHash, splitPoint, EMPTY_ROOT, verifyInclusion, verifyConsistency,
} from '@bulwark/sdk/audit'

// The RFC 6962 test vectors used by certificate-transparency-go (merkle tree tests).
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'))
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]

/** MTH straight from the RFC's recursive definition, to check the packed tree against. */
function naiveRoot(hashes: Buffer[]): Buffer {
  if (hashes.length === 0) return EMPTY_ROOT
  if (hashes.length === 1) return hashes[0]!
  const k = splitPoint(hashes.length)
  return nodeHash(naiveRoot(hashes.slice(0, k)), naiveRoot(hashes.slice(k)))
}

test('matches the RFC 6962 reference roots for trees of 1 to 8 leaves', () => {
  const tree = createMerkleTree()
  assert.equal(tree.root().toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  LEAVES.forEach((leaf, i) => {
    tree.append(leafHash(leaf))
    assert.equal(tree.root().toString('hex'), ROOTS[i], `size ${i + 1}`)
  })
  for (let size = 1; size <= 8; size++) assert.equal(tree.root(size).toString('hex'), ROOTS[size - 1])
})

test('every inclusion and consistency proof up to 70 leaves verifies, and a wrong one does not', () => {
  const tree = createMerkleTree()
  const acc = createRootAccumulator()
  const hashes: Buffer[] = []
  for (let i = 0; i < 70; i++) {
    const h = leafHash(Buffer.from(`leaf-${i}`))
    hashes.push(h)
    tree.append(h)
    acc.add(h)
    assert.deepEqual(acc.root(), naiveRoot(hashes))
  }
  for (let n = 1; n <= 70; n++) {
    const root = tree.root(n)
    assert.deepEqual(root, naiveRoot(hashes.slice(0, n)))
    for (let m = 0; m < n; m++) {
      const proof = tree.inclusionProof(m, n)
      assert.ok(verifyInclusion(hashes[m]!, m, n, proof, root), `inclusion ${m} in ${n}`)
      if (n > 1) assert.ok(!verifyInclusion(hashes[(m + 1) % n]!, m, n, proof, root), `wrong leaf ${m} in ${n}`)
    }
    for (let m = 0; m <= n; m++) {
      const proof = tree.consistencyProof(m, n)
      assert.ok(verifyConsistency(m, n, tree.root(m), root, proof), `consistency ${m} -> ${n}`)
      if (m > 0 && m < n) assert.ok(!verifyConsistency(m, n, leafHash(Buffer.from('forged')), root, proof), `forged ${m} -> ${n}`)
    }
  }
})

test('rejects out-of-range proof requests', () => {
  const tree = createMerkleTree()
  tree.append(leafHash(Buffer.from('a')))
  assert.throws(() => tree.inclusionProof(1, 1), RangeError)
  assert.throws(() => tree.root(2), RangeError)
  assert.throws(() => tree.consistencyProof(2, 1), RangeError)
  assert.equal(verifyInclusion(leafHash(Buffer.from('a')), 0, 0, [], tree.root()), false)
})

test('truncating undoes appends exactly', () => {
  const tree = createMerkleTree()
  for (let i = 0; i < 37; i++) tree.append(leafHash(Buffer.from(`x${i}`)))
  const root21 = tree.root(21)
  tree.truncate(21)
  assert.equal(tree.size, 21)
  assert.deepEqual(tree.root(), root21)
  for (let i = 21; i < 30; i++) tree.append(leafHash(Buffer.from(`y${i}`)))
  const fresh = createMerkleTree()
  for (let i = 0; i < 21; i++) fresh.append(leafHash(Buffer.from(`x${i}`)))
  for (let i = 21; i < 30; i++) fresh.append(leafHash(Buffer.from(`y${i}`)))
  assert.deepEqual(tree.root(), fresh.root())
  assert.deepEqual(tree.inclusionProof(3), fresh.inclusionProof(3))
})

test('canonical JSON sorts keys, drops undefined, and keeps a `__proto__` member as data', async () => {
  const { canonicalJson } = await import('@bulwark/sdk/audit')
  assert.equal(canonicalJson({ b: 1, a: { d: [1, undefined, 'x'], c: null }, e: undefined }), '{"a":{"c":null,"d":[1,null,"x"]},"b":1}')
  const parsed = JSON.parse('{"details":{"__proto__":{"admin":true},"z":1}}')
  assert.equal(canonicalJson(parsed), '{"details":{"__proto__":{"admin":true},"z":1}}')
})

test('the fast leaf encoding equals the generic canonical JSON for every shape of event', async () => {
  const { canonicalJson, entryLeafData } = await import('@bulwark/sdk/audit')
  const base = { id: 'evt-00000001', type: 'a.b', time: '2026-11-23T12:00:00.000Z', component: 'gateway', action: 'x', outcome: 'success' as const }
  const events = [
    { ...base, actor: { kind: 'anonymous' as const } },
    { ...base, actor: { kind: 'user' as const, id: 'u1', ip: '::1', clientId: 'c', spiffeId: 'spiffe://td/svc/a' }, resource: 'r', reason: 'why', route: '/x', requestId: 'req' },
    { ...base, actor: { kind: 'service' as const }, details: { z: 1, a: 'two', m: null, b: true, __proto__x: 'y' } },
    { ...base, actor: { kind: 'service' as const }, details: { 10: 'ten', 9: 'nine', k: 'v' } },
    { ...base, actor: { kind: 'service' as const }, details: JSON.parse('{"__proto__":"p","a":1}') },
    { ...base, actor: { kind: 'user' as const, id: 'quote " and \\ and \u2028' } },
    { ...base, extra: 'not in the schema', actor: { kind: 'user' as const } },
  ]
  for (const event of events) {
    const entry = { index: 7, received: '2026-11-23T12:00:01.000Z', event: event as never }
    assert.equal(entryLeafData(entry), canonicalJson({ index: 7, received: entry.received, event }))
  }
})

test('a tree started at an archive cut (its frontier only) gives the same roots and proofs as the whole tree, past the cut', async () => {
  const { createRootAccumulator: accumulator } = await import('@bulwark/sdk/audit')
  const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)))
  const whole = createMerkleTree()
  for (const leaf of leaves) whole.append(leaf)
  for (let cut = 1; cut <= 64; cut++) {
    // Both ways a tree reaches a cut: started from the checkpoint, or pruned in place (and appended to after).
    const started = createMerkleTree({ size: cut, frontier: whole.frontier(cut) })
    const pruned = createMerkleTree()
    for (const leaf of leaves.slice(0, cut + 3)) pruned.append(leaf)
    pruned.prune(cut)
    for (const leaf of leaves.slice(cut)) started.append(leaf)
    for (const leaf of leaves.slice(cut + 3)) pruned.append(leaf)
    for (const tree of [started, pruned]) {
      assert.equal(tree.base, cut)
      assert.throws(() => tree.leaf(cut - 1), RangeError)
      if (cut > 1) assert.throws(() => tree.root(cut - 1), RangeError)
      if (cut > 1) assert.throws(() => tree.consistencyProof(cut - 1, 70), RangeError)
      for (let n = cut; n <= 70; n++) {
        assert.deepEqual(tree.root(n), whole.root(n), `cut ${cut}, root ${n}`)
        assert.deepEqual(tree.frontier(n), whole.frontier(n))
        assert.deepEqual(tree.consistencyProof(cut, n), whole.consistencyProof(cut, n), `cut ${cut}, consistency ${cut} -> ${n}`)
        if (n % 7 === 0) for (let m = cut; m <= n; m++) assert.deepEqual(tree.consistencyProof(m, n), whole.consistencyProof(m, n))
      }
      for (let i = cut; i < 70; i++) assert.deepEqual(tree.inclusionProof(i, 70), whole.inclusionProof(i, 70), `cut ${cut}, leaf ${i}`)
    }
    const acc = accumulator({ size: cut, frontier: whole.frontier(cut) })
    assert.deepEqual(acc.root(), whole.root(cut))
    for (const leaf of leaves.slice(cut)) acc.add(leaf)
    assert.deepEqual(acc.root(), whole.root())
  }
})
