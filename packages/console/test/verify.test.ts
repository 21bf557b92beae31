// The browser's proof check (src/ui/verify.ts, WebCrypto only) against the
// log's own code: the same entries, tree, proofs and signed heads the audit
// service produces must verify, and any change to an entry, a proof hash, the
// head or the key must not.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { createMerkleTree, entryLeafHash, signTreeHead, type AuditLogEntry } from '@bulwark/sdk/audit'
import { verifyEntryProof, type ProofInput } from '../src/ui/verify.ts'

const { privateKey } = generateKeyPairSync('ed25519')
const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JsonWebKey

function log(size: number) {
  const tree = createMerkleTree()
  const entries: AuditLogEntry[] = []
  for (let i = 0; i < size; i++) {
    const entry: AuditLogEntry = {
      index: i, received: new Date(1_700_000_000_000 + i).toISOString(),
      event: {
        id: `evt_${String(i).padStart(8, '0')}`, type: i % 2 ? 'login.succeeded' : 'authz.denied', time: new Date(1_700_000_000_000 + i).toISOString(),
        component: 'gateway', actor: { kind: 'user', id: `u${i}`, ip: '127.0.0.1' }, action: 'GET orders.get', outcome: i % 2 ? 'success' : 'denied',
        ...(i % 3 === 0 ? { details: { status: 403, stage: 'authorize', ok: true, none: null } } : {}),
      },
    }
    entries.push(entry)
    tree.append(entryLeafHash(entry))
  }
  const head = { ...signTreeHead(privateKey, { treeSize: size, rootHash: tree.root(), timestamp: Date.now() }) }
  const input = (index: number): ProofInput => ({
    entry: structuredClone(entries[index]!),
    proof: { index, treeSize: size, leafHash: tree.leaf(index).toString('hex'), proof: tree.inclusionProof(index, size).map((b) => b.toString('hex')), treeHead: { ...head } },
    publicKeyJwk: { ...jwk },
  })
  return { input }
}

test('the browser check verifies every entry of logs of many sizes against the signed tree head', async () => {
  for (const size of [1, 2, 3, 5, 8, 13]) {
    const { input } = log(size)
    for (let index = 0; index < size; index++) {
      const report = await verifyEntryProof(input(index))
      assert.equal(report.verified, true, `entry ${index} of ${size}: ${JSON.stringify(report)}`)
    }
  }
})

test('the browser check fails when the entry, a proof hash, the tree head or the key is not the logged one', async () => {
  const { input } = log(11)
  const changedEntry = input(6)
  ;(changedEntry.entry.event as { outcome: string }).outcome = 'success'
  const r1 = await verifyEntryProof(changedEntry)
  assert.equal(r1.verified, false)
  assert.equal(r1.leaf.ok, false, 'a changed entry has another leaf hash')

  const changedPath = input(6)
  changedPath.proof.proof[1] = changedPath.proof.proof[1]!.replace(/^./, (c) => (c === '0' ? '1' : '0'))
  const r2 = await verifyEntryProof(changedPath)
  assert.equal(r2.inclusion.ok, false)
  assert.equal(r2.verified, false)

  const otherIndex = input(6)
  otherIndex.entry.index = 7
  assert.equal((await verifyEntryProof(otherIndex)).verified, false, 'an entry moved to another index')

  const changedHead = input(6)
  changedHead.proof.treeHead.timestamp += 1
  const r3 = await verifyEntryProof(changedHead)
  assert.equal(r3.signature.ok, false, 'the signature covers the timestamp')
  assert.equal(r3.verified, false)

  const otherKey = input(6)
  otherKey.publicKeyJwk = createPublicKey(generateKeyPairSync('ed25519').privateKey).export({ format: 'jwk' }) as JsonWebKey
  const r4 = await verifyEntryProof(otherKey)
  assert.equal(r4.signature.ok, false)
  assert.equal(r4.signature.keyIdOk, false)
})
