// Retention: old entries leave the live log for signed segment files, the log
// keeps a signed checkpoint at the cut, and everything still verifies across
// it (live, exports, segments, proofs). Small caps and a manual clock: no
// waiting for time to pass.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { DatabaseSync } from 'node:sqlite'
import { createManualClock, homePaths } from '@bulwark/core'
import { createTestCa, freePort } from '@bulwark/testkit'
import { exportLine, verifyConsistency, verifyInclusion, type SignedTreeHead } from '@bulwark/sdk/audit'
import { startAudit, makeEvent, type Harness } from './helpers.ts'
import { cli, makeHome } from './cli-helpers.ts'

const DAY = 86_400_000
const ca = await createTestCa()
const port = await freePort()
const home = await makeHome(ca, { audit: port })
const dir = homePaths(home.home).componentDir('audit')
const archiveDir = join(dir, 'archive')
const clock = createManualClock(Date.UTC(2026, 10, 23, 12))
const config = { retention: { maxAgeDays: 30, maxEntries: 40 } }
let harness: Harness = await startAudit({ ca, port, dir, clock, config })
after(async () => {
  await harness.close()
  home.remove()
})

const appended: string[] = []
async function append(count: number): Promise<void> {
  const vault = await harness.client('vault')
  const events = Array.from({ length: count }, (_, i) => makeEvent('vault', { type: 'secret.read', resource: `kv/app/${appended.length + i}`, outcome: 'success' }))
  assert.equal((await vault.call('POST', '/v1/events', { events })).status, 200)
  appended.push(...events.map((e) => e.id))
}

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n')
const hex = (list: string[]) => list.map((h) => Buffer.from(h, 'hex'))

async function verifyFile(file: string): Promise<{ code: number; out: string }> {
  const res = await cli(home.home, 'audit', ['verify', '--file', file])
  return { code: res.code, out: res.out + res.err }
}

await append(12)
const outDir = join(home.home, 'taken-away')

test('audit archive within the retention limits archives nothing', async () => {
  const res = await cli(home.home, 'audit', ['archive'])
  assert.equal(res.code, 0, res.err)
  assert.match(res.out, /nothing to archive/)
  assert.equal(harness.service.log.base, 0)
  assert.equal(existsSync(archiveDir), false)
})

let firstSegment = ''
test('audit archive cuts the entries older than maxAgeDays into a signed 0600 segment (and --out copies it), the live log keeps the rest', async () => {
  clock.advance(31 * DAY)
  await append(5)
  const res = await cli(home.home, 'audit', ['archive', '--out', outDir, '--json'])
  assert.equal(res.code, 0, res.err)
  const { archived, file } = JSON.parse(res.out)
  // The 12 old entries; the 5 new ones stay.
  assert.equal(archived.firstIndex, 0)
  assert.equal(archived.treeSize, 12)
  firstSegment = join(archiveDir, archived.segment)
  assert.equal(statSync(firstSegment).mode & 0o777, 0o600)
  assert.equal(readFileSync(file, 'utf8'), readFileSync(firstSegment, 'utf8'))
  assert.equal(createHash('sha256').update(readFileSync(firstSegment)).digest('hex'), archived.sha256)
  const segmentLines = lines(firstSegment)
  assert.equal(segmentLines.length, 13)
  assert.equal(JSON.parse(segmentLines[12]!).treeHead.treeSize, 12)
  assert.equal(harness.service.log.base, 12)
  const db = new DatabaseSync(join(dir, 'log.db'))
  assert.equal((db.prepare('SELECT MIN(seq) AS m FROM entries').get() as { m: number }).m, 12)
  db.close()
  // The cut is recorded in the log itself, after the cut.
  await harness.service.audit.flush()
  const event = (await harness.service.log.query({ after: -1, limit: 100, order: 'asc', type: 'audit.archived' })).map((d) => JSON.parse(d))[0]
  assert.ok(event.index >= 12)
  assert.deepEqual(
    { ...event.event.details },
    { firstIndex: 0, treeSize: 12, entries: 12, segment: archived.segment, sha256: archived.sha256, rootHash: archived.treeHead.rootHash },
  )
})

test('after an archive cut, verify of the live log, of a new export and of the segment all pass', async () => {
  const live = await cli(home.home, 'audit', ['verify'])
  assert.equal(live.code, 0, live.out + live.err)
  const exportFile = join(home.home, 'after-cut.jsonl')
  const exported = await cli(home.home, 'audit', ['export', '--out', exportFile])
  assert.equal(exported.code, 0, exported.out + exported.err)
  const exportLines = lines(exportFile)
  const checkpoint = JSON.parse(exportLines[0]!).checkpoint
  assert.equal(checkpoint.treeHead.treeSize, 12)
  assert.equal(JSON.parse(exportLines[1]!).index, 12)
  const checked = await verifyFile(exportFile)
  assert.equal(checked.code, 0, checked.out)
  assert.match(checked.out, /consistent with the live log/)
  const segment = await verifyFile(firstSegment)
  assert.equal(segment.code, 0, segment.out)
  assert.match(segment.out, /ok: 12 entries verified/)
})

test('proofs across the cut: a surviving entry is included in the new head, the segment head is consistent with it, an archived entry is 410', async () => {
  const operator = await harness.operator()
  const head = (await operator.call('GET', '/v1/tree-head')).body as SignedTreeHead
  const proof = await operator.call('GET', `/v1/proofs/inclusion?index=14&size=${head.treeSize}`)
  assert.equal(proof.status, 200)
  assert.ok(verifyInclusion(Buffer.from(proof.body.leafHash, 'hex'), 14, head.treeSize, hex(proof.body.proof), Buffer.from(head.rootHash, 'hex')))
  const segmentHead = JSON.parse(lines(firstSegment)[12]!).treeHead as SignedTreeHead
  const consistency = await operator.call('GET', `/v1/proofs/consistency?first=12&second=${head.treeSize}`)
  assert.equal(consistency.status, 200)
  assert.ok(verifyConsistency(12, head.treeSize, Buffer.from(segmentHead.rootHash, 'hex'), Buffer.from(head.rootHash, 'hex'), hex(consistency.body.proof)))
  const archived = await operator.call('GET', '/v1/proofs/inclusion?index=3')
  assert.equal(archived.status, 410)
  assert.equal(archived.body.code, 'BW_AUDIT_ARCHIVED')
  assert.equal((await operator.call('GET', '/v1/proofs/consistency?first=5')).status, 410)
})

// Every edit of a segment fails verify, named.
const SEGMENT_EDITS: Array<[string, (l: string[]) => string[], RegExp]> = [
  ['an edited entry', (l) => l.map((x, i) => (i === 4 ? x.replace('kv/app/4', 'kv/app/X') : x)), /first bad entry: index 4/],
  ['a removed entry', (l) => l.filter((_, i) => i !== 2), /first bad entry: index 2/],
  ['a space after the opening brace', (l) => l.map((x, i) => (i === 6 ? x.replace(/^\{/, '{ ') : x)), /first bad entry: index 6/],
  ['a duplicate key', (l) => l.map((x, i) => (i === 7 ? x.replace('{"event":{', '{"event":{"action":"secret.deleted",') : x)), /index 7: .*duplicate key `action`/],
  ['a carefully edited entry (leaf hash recomputed)', (l) => l.map((x, i) => {
    if (i !== 5) return x
    const { leafHash: _, ...entry } = JSON.parse(x.replace('kv/app/5', 'kv/app/Y'))
    return exportLine(entry)
  }), /do not hash to the signed root/],
  ['an edited tree head', (l) => l.map((x, i) => (i === l.length - 1 ? x.replace(/"timestamp":(\d+)/, (_, t) => `"timestamp":${Number(t) + 1}`) : x)), /tree head signature does not verify/],
  ['a truncated segment', (l) => [...l.slice(0, 8), l[l.length - 1]!], /truncated/],
]

test('a segment that was changed in any way fails verify, naming what', async () => {
  const original = lines(firstSegment)
  for (const [name, change, expected] of SEGMENT_EDITS) {
    const file = join(home.home, 'tampered-segment.jsonl')
    const changed = change([...original])
    assert.notDeepEqual(changed, original, name)
    writeFileSync(file, changed.join('\n') + '\n')
    const res = await verifyFile(file)
    assert.equal(res.code, 1, `${name}: ${res.out}`)
    assert.match(res.out, expected, name)
  }
})

let secondSegment = ''
test('crossing maxEntries archives automatically, down to half the cap; the next segment opens with the previous checkpoint and verifies', async () => {
  const before = harness.service.log.base
  await append(45)
  // Event-driven (the commit that crosses the cap schedules it): wait for it to land, not for time to pass.
  for (let i = 0; i < 200 && harness.service.log.base === before; i++) await new Promise((resolve) => setTimeout(resolve, 25))
  const latest = harness.service.archiver.latest()!
  assert.ok(latest.treeHead.treeSize > before, 'archived automatically')
  assert.equal(latest.firstIndex, 12)
  assert.ok(harness.service.log.size - harness.service.log.base <= 40)
  secondSegment = join(archiveDir, latest.segment)
  const segmentLines = lines(secondSegment)
  assert.deepEqual(JSON.parse(segmentLines[0]!).checkpoint.treeHead, JSON.parse(lines(firstSegment)[12]!).treeHead)
  const res = await verifyFile(secondSegment)
  assert.equal(res.code, 0, res.out)
  assert.equal((await cli(home.home, 'audit', ['verify'])).code, 0)
  // The first segment is now older than the live cut: still verifies (offline; the second one carries its head on).
  const older = await verifyFile(firstSegment)
  assert.equal(older.code, 0, older.out)
  assert.match(older.out, /older than the live log's archive cut/)
  // A forged frontier in the checkpoint line fails.
  const forged = join(home.home, 'forged-checkpoint.jsonl')
  const flipped = segmentLines[0]!.replace(/"frontier":\["([0-9a-f])/, (_, c: string) => `"frontier":["${c === '0' ? '1' : '0'}`)
  assert.notEqual(flipped, segmentLines[0])
  writeFileSync(forged, [flipped, ...segmentLines.slice(1)].join('\n') + '\n')
  const bad = await verifyFile(forged)
  assert.equal(bad.code, 1, bad.out)
  assert.match(bad.out, /checkpoint/)
})

test('nothing is dropped: the segments and the live log together hold every event appended, once, in order', async () => {
  const seen: string[] = []
  for (const name of readdirSync(archiveDir).filter((n) => n.startsWith('segment-')).sort()) {
    for (const line of lines(join(archiveDir, name))) {
      const value = JSON.parse(line)
      if (value.event) seen.push(value.event.id)
    }
  }
  await harness.service.audit.flush()
  for (const data of await harness.service.log.query({ after: -1, limit: 10_000, order: 'asc' })) seen.push(JSON.parse(data).event.id)
  const callers = seen.filter((id) => appended.includes(id))
  assert.deepEqual(callers, appended)
  assert.equal(new Set(seen).size, seen.length)
})

test('a segment that cannot be written removes nothing, and the cut is refused', async () => {
  const before = { base: harness.service.log.base, size: harness.service.log.size }
  rmSync(archiveDir, { recursive: true })
  writeFileSync(archiveDir, 'not a directory')
  try {
    const res = await cli(home.home, 'audit', ['archive', '--up-to', String(before.size)])
    assert.equal(res.code, 1)
    assert.equal(harness.service.log.base, before.base)
    assert.equal((await cli(home.home, 'audit', ['verify'])).code, 0)
  } finally {
    rmSync(archiveDir)
    mkdirSync(archiveDir, { mode: 0o700 })
  }
})

test('a restart resumes from the checkpoint: verify passes, appends continue the indices, proofs still verify', async () => {
  harness = await harness.restart(config)
  const base = harness.service.log.base
  assert.ok(base > 12)
  assert.equal((await cli(home.home, 'audit', ['verify'])).code, 0)
  const size = harness.service.log.size
  await append(3)
  assert.equal(harness.service.log.size, size + 3)
  const operator = await harness.operator()
  const head = (await operator.call('GET', '/v1/tree-head')).body as SignedTreeHead
  const proof = await operator.call('GET', `/v1/proofs/inclusion?index=${base}&size=${head.treeSize}`)
  assert.ok(verifyInclusion(Buffer.from(proof.body.leafHash, 'hex'), base, head.treeSize, hex(proof.body.proof), Buffer.from(head.rootHash, 'hex')))
})

test('a checkpoint edited while the service was down fails verify and stops ingestion', async () => {
  await harness.stop()
  const db = new DatabaseSync(join(dir, 'log.db'))
  const row = db.prepare('SELECT id, frontier FROM checkpoints ORDER BY tree_size DESC LIMIT 1').get() as { id: number; frontier: string }
  const frontier = row.frontier.replace(/"([0-9a-f])/, (_, c: string) => `"${c === '0' ? '1' : '0'}`)
  assert.notEqual(frontier, row.frontier)
  db.prepare('UPDATE checkpoints SET frontier = ? WHERE id = ?').run(frontier, row.id)
  db.close()
  harness = await harness.restart(config)
  const res = await cli(home.home, 'audit', ['verify'])
  assert.equal(res.code, 1, res.out)
  assert.match(res.out, /checkpoint/)
  const vault = await harness.client('vault')
  assert.equal((await vault.call('POST', '/v1/events', { events: [makeEvent('vault')] })).status, 503)
})
