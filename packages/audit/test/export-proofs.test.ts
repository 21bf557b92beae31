// Exports (JSON Lines closed by a signed tree head) and proofs: what the
// operator takes away must verify offline, and any change to it is named.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  bisectFirstBadIndex, exportLine, verifyConsistency, verifyExport, verifyInclusion, verifyTreeHead, type SignedTreeHead,
} from '@bulwark/sdk/audit'
import { startAudit, makeEvent } from './helpers.ts'

const harness = await startAudit()
after(() => harness.close())
const gateway = await harness.client('gateway')
const operator = await harness.operator()
for (let i = 0; i < 12; i++) {
  const res = await gateway.call('POST', '/v1/events', { events: [makeEvent('gateway', { type: 'authn.failed', requestId: `req-${i}`, actor: { kind: 'anonymous', ip: `198.51.100.${i}` } })] })
  assert.equal(res.status, 200)
}
const exported = await operator.call('GET', '/v1/export')
const original = exported.text.trim().split('\n')

test('an export is one entry per line closed by a signed tree head carrying the public key, and verifies', async () => {
  assert.equal(exported.status, 200)
  assert.match(String(exported.headers['content-type']), /ndjson/)
  const head = JSON.parse(original[original.length - 1]!).treeHead as SignedTreeHead
  assert.equal(head.treeSize, original.length - 1)
  assert.ok(head.publicKey?.includes('BEGIN PUBLIC KEY'))
  const result = await verifyExport(original)
  assert.equal(result.ok, true, result.problem)
  assert.equal(result.entries, head.treeSize)
  const withKey = await verifyExport(original, { trustedPublicKey: harness.service.key.publicKeyPem })
  assert.equal(withKey.ok, true)
})

const edit = (line: string) => line.replace('"outcome":"denied"', '"outcome":"success"')
const CASES: Array<[string, (lines: string[]) => string[], number]> = [
  ['an edited entry', (l) => l.map((line, i) => (i === 3 ? edit(line) : line)), 3],
  ['a removed entry', (l) => l.filter((_, i) => i !== 4), 4],
  ['an inserted entry', (l) => [...l.slice(0, 5), l[2]!.replace('"index":2', '"index":5'), ...l.slice(5)], 5],
  ['two entries swapped', (l) => l.map((line, i) => (i === 2 ? l[6]! : i === 6 ? l[2]! : line)), 2],
  ['a truncated export (tree head kept)', (l) => [...l.slice(0, 7), l[l.length - 1]!], 7],
  ['a truncated export (tree head lost)', (l) => l.slice(0, 9), 9],
  ['an entry renumbered into place', (l) => l.filter((_, i) => i !== 1).map((line, i) => line.replace(/"index":\d+/, `"index":${i}`)).map((line, i, all) => (i === all.length - 1 ? l[l.length - 1]! : line)), 1],
]

for (const [name, change, firstBad] of CASES) {
  test(`names the first bad index of ${name}: ${firstBad}`, async () => {
    const result = await verifyExport(change([...original]))
    assert.equal(result.ok, false)
    assert.equal(result.firstBadIndex, firstBad, result.problem)
  })
}

test('a forged tree head fails: a bad signature, or a key that is not the service\'s', async () => {
  const lines = [...original]
  const head = JSON.parse(lines[lines.length - 1]!).treeHead as SignedTreeHead
  lines[lines.length - 1] = JSON.stringify({ treeHead: { ...head, rootHash: 'a'.repeat(64) } })
  assert.match((await verifyExport(lines)).problem!, /signature/)
  const { generateKeyPairSync } = await import('node:crypto')
  const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string
  assert.match((await verifyExport(original, { trustedPublicKey: other })).problem!, /key other than/)
})

test('an edit that drops the leaf hash field is named offline, as a missing field', async () => {
  const lines = original.map((line, i) => {
    if (i !== 8) return line
    const value = JSON.parse(edit(line))
    delete value.leafHash
    return JSON.stringify(value)
  })
  const result = await verifyExport(lines)
  assert.equal(result.ok, false)
  assert.equal(result.firstBadIndex, 8)
  assert.match(result.problem!, /missing field `leafHash`/)
})

test('a careful edit (leaf hash recomputed, line kept canonical) fails as a whole offline and is named exactly with the live log', async () => {
  const lines = original.map((line, i) => {
    if (i !== 8) return line
    const { leafHash: _, ...entry } = JSON.parse(edit(line))
    return exportLine(entry)
  })
  const result = await verifyExport(lines, { keepLeafHashes: true })
  assert.equal(result.ok, false)
  assert.equal(result.rootMismatch, true)
  assert.equal(result.firstBadIndex, undefined)
  const head = result.treeHead!
  const index = await bisectFirstBadIndex(result.leafHashes!, head.treeSize, Buffer.from(head.rootHash, 'hex'), async (first) => {
    const res = await operator.call('GET', `/v1/proofs/consistency?first=${first}&second=${head.treeSize}`)
    return res.body.proof.map((h: string) => Buffer.from(h, 'hex'))
  })
  assert.equal(index, 8)
})

test('serves inclusion proofs by index or event id and consistency proofs between heads', async () => {
  const first = (await operator.call('GET', '/v1/tree-head')).body as SignedTreeHead
  assert.ok(verifyTreeHead(first, harness.service.key.publicKeyPem))
  const line = JSON.parse(original[5]!)
  for (const query of [`index=5`, `id=${line.event.id}`]) {
    const proof = await operator.call('GET', `/v1/proofs/inclusion?${query}`)
    assert.equal(proof.status, 200)
    assert.equal(proof.body.index, 5)
    assert.equal(proof.body.leafHash, line.leafHash)
    assert.ok(verifyInclusion(Buffer.from(line.leafHash, 'hex'), 5, proof.body.treeSize, proof.body.proof.map((h: string) => Buffer.from(h, 'hex')), Buffer.from(proof.body.treeHead.rootHash, 'hex')))
  }
  await gateway.call('POST', '/v1/events', { events: [makeEvent('gateway'), makeEvent('gateway')] })
  const second = (await operator.call('GET', '/v1/tree-head')).body as SignedTreeHead
  assert.ok(second.treeSize > first.treeSize)
  const consistency = await operator.call('GET', `/v1/proofs/consistency?first=${first.treeSize}&second=${second.treeSize}`)
  assert.ok(verifyConsistency(first.treeSize, second.treeSize, Buffer.from(first.rootHash, 'hex'), Buffer.from(second.rootHash, 'hex'), consistency.body.proof.map((h: string) => Buffer.from(h, 'hex'))))
  assert.equal((await operator.call('GET', '/v1/proofs/inclusion?index=99999')).status, 404)
  assert.equal((await operator.call('GET', '/v1/proofs/inclusion?id=no-such-event')).status, 404)
  assert.equal((await operator.call('GET', '/v1/proofs/consistency')).status, 400)
})

test('pages an export at a fixed tree head', async () => {
  const head = (await operator.call('GET', '/v1/tree-head')).body as SignedTreeHead
  const pages: string[] = []
  for (let start = 0; start < head.treeSize; start += 4) pages.push((await operator.call('GET', `/v1/export?size=${head.treeSize}&start=${start}&limit=4`)).text)
  const lines = pages.join('').trim().split('\n')
  assert.equal(lines.length, head.treeSize + 1)
  assert.equal((await verifyExport(lines)).ok, true)
  assert.equal((await operator.call('GET', '/v1/export?size=999999')).status, 400)
})

test('export lines written from stored bytes equal the canonical encoding of the entry', async () => {
  const { canonicalJson, exportLineFromLeaf, entryLeafData, leafHash } = await import('@bulwark/sdk/audit')
  for (const line of original.slice(0, -1)) {
    const { leafHash: stated, ...entry } = JSON.parse(line)
    const data = entryLeafData(entry)
    assert.equal(exportLineFromLeaf(data, leafHash(data)), canonicalJson({ ...entry, leafHash: stated }))
    assert.equal(line, canonicalJson({ ...entry, leafHash: stated }))
  }
})
