// Two audit replicas on one real PostgreSQL (testkit), each a real service
// over mTLS sharing the signing key (as a mounted Secret would): one writer
// at a time, the follower refuses ingestion with 503 + Retry-After and
// serves reads, and when the writer goes the follower takes over within
// 10 s and continues the same log (consistency proofs across the takeover).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { createMtlsAgent, createSilentLogger, serviceSpiffeId } from '@bulwark/core'
import { createTestCa, postgresSkipReason, startPostgres, tempDir, type TestPostgres } from '@bulwark/testkit'
import { createAuditEmitter, verifyConsistency, verifyTreeHead } from '@bulwark/sdk/audit'
import { startAudit, makeEvent, type Harness } from './helpers.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
const open: Harness[] = []
const work = tempDir('bulwark-audit-leader-')

before(async () => { if (!pgSkip) server = await startPostgres() })
after(async () => {
  for (const h of open) await h.close()
  await server?.stop()
  work.remove()
})

const RETRY_MS = 250

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return Date.now() - started
}

const hex = (h: string) => Buffer.from(h, 'hex')

test('postgres: two audit replicas have one writer; the other takes over within 10 s when it closes, and the log stays one verifiable tree', { skip: pgSkip }, async () => {
  const ca = await createTestCa()
  const storage = { postgres: { url: await server!.createDatabase('auditha') } }
  const keyDir = join(work.path, 'replicas')
  const config = { leaderRetryMs: RETRY_MS }
  const a = await startAudit({ ca, storage, dir: keyDir, config })
  open.push(a)
  const b = await startAudit({ ca, storage, dir: keyDir, config })
  open.push(b)
  assert.equal(a.service.leader, true, 'the first replica takes the writer lock')
  assert.equal(b.service.leader, false, 'the second follows')
  assert.match((await (await a.operator()).call('GET', '/metrics')).text, /^bulwark_audit_writer\{[^}]*\} 1$/m)
  assert.match((await (await b.operator()).call('GET', '/metrics')).text, /^bulwark_audit_writer\{[^}]*\} 0$/m)

  // Only the writer accepts events; the follower refuses before reading the batch, with Retry-After.
  const atA = await a.client('gateway')
  const atB = await b.client('gateway')
  const first = Array.from({ length: 5 }, (_, i) => makeEvent('gateway', { requestId: `before-${i}` }))
  assert.equal((await atA.call('POST', '/v1/events', { events: first })).status, 200)
  const stray = makeEvent('gateway', { requestId: 'refused' })
  const refused = await atB.call('POST', '/v1/events', { events: [stray] })
  assert.equal(refused.status, 503)
  assert.equal(refused.body.code, 'BW_AUDIT_NOT_LEADER')
  assert.equal(refused.headers['retry-after'], '1')

  // The follower serves reads of what the writer committed.
  const opA = await a.operator()
  const opB = await b.operator()
  const headBefore = (await opA.call('GET', '/v1/tree-head')).body
  const seenAtB = (await opB.call('GET', '/v1/tree-head')).body
  assert.deepEqual(seenAtB, headBefore)
  const listed = (await opB.call('GET', '/v1/events?after=-1&limit=100')).body
  assert.equal(listed.entries.some((e: { event: { id: string } }) => e.event.id === stray.id), false, 'the refused event was not appended')
  assert.deepEqual(listed.entries.filter((e: { event: { component: string } }) => e.event.component === 'gateway').map((e: { event: { requestId: string } }) => e.event.requestId), first.map((e) => e.requestId))
  assert.equal((await opB.call('GET', '/v1/verify')).body.ok, true)

  // An emitter pointed at the follower keeps its events spooled while it refuses them.
  const spoolPath = join(work.path, 'orders-spool.jsonl')
  const emitter = createAuditEmitter({
    url: b.url, component: 'orders', spoolPath, log: createSilentLogger(), batchSize: 20, retryMinMs: 100, retryMaxMs: 200,
    dispatcher: createMtlsAgent(await ca.source('orders'), { verifyPeer: (id) => id === serviceSpiffeId(ca.trustDomain, 'audit') }),
  })
  for (let i = 0; i < 3; i++) emitter.emit({ type: 'authz.denied', actor: { kind: 'user', id: 'bob' }, action: 'orders.get', outcome: 'denied', requestId: `spooled-${i}` })
  await emitter.flush()
  assert.equal(emitter.spoolDepth(), 3, 'refused with 503: still spooled')
  assert.equal(readFileSync(spoolPath, 'utf8').trim().split('\n').length, 3)

  // The writer goes away; the follower takes the lock, catches up and writes on.
  await a.stop()
  const took = await until('the follower becomes the writer', () => b.service.leader, 10_000)
  assert.ok(took < 10_000, `takeover took ${took} ms`)
  const second = Array.from({ length: 4 }, (_, i) => makeEvent('gateway', { requestId: `after-${i}` }))
  const accepted = await atB.call('POST', '/v1/events', { events: [...second, first[0]] })
  assert.equal(accepted.status, 200, accepted.text)
  assert.deepEqual(accepted.body, { accepted: 4, duplicates: 1 }, 'an event written before the takeover is still known')
  await until('the spooled events drain into the new writer', () => emitter.spoolDepth() === 0, 10_000)
  await emitter.close()

  const headAfter = (await opB.call('GET', '/v1/tree-head')).body
  assert.ok(headAfter.treeSize > headBefore.treeSize)
  assert.ok(verifyTreeHead(headBefore, b.service.key.publicKeyPem) && verifyTreeHead(headAfter, b.service.key.publicKeyPem))
  const proof = (await opB.call('GET', `/v1/proofs/consistency?first=${headBefore.treeSize}&second=${headAfter.treeSize}`)).body
  assert.ok(verifyConsistency(headBefore.treeSize, headAfter.treeSize, hex(headBefore.rootHash), hex(headAfter.rootHash), proof.proof.map(hex)),
    'the head signed before the takeover is a prefix of the one after')
  const report = (await opB.call('GET', '/v1/verify')).body
  assert.equal(report.ok, true, report.problem)
  assert.equal(report.checked, headAfter.treeSize)
  const ids = (await opB.call('GET', '/v1/events?after=-1&limit=1000')).body.entries.map((e: { event: { requestId?: string } }) => e.event.requestId).filter(Boolean)
  for (const id of [...first, ...second].map((e) => e.requestId)) assert.ok(ids.includes(id), `${id} is in the log`)
  for (let i = 0; i < 3; i++) assert.ok(ids.includes(`spooled-${i}`))

  // The old writer, back, follows the new one and reads the same log.
  const c = await startAudit({ ca, storage, dir: keyDir, config })
  open.push(c)
  assert.equal(c.service.leader, false)
  assert.equal((await (await c.client('gateway')).call('POST', '/v1/events', { events: [makeEvent('gateway')] })).status, 503)
  assert.deepEqual((await (await c.operator()).call('GET', '/v1/tree-head')).body, (await opB.call('GET', '/v1/tree-head')).body)
})

test('postgres: a writer whose lock connection is cut stops writing at once, and the other replica takes over the same log', { skip: pgSkip }, async () => {
  const ca = await createTestCa()
  const database = await server!.createDatabase('auditcut')
  const storage = { postgres: { url: database } }
  const keyDir = join(work.path, 'cut')
  const config = { leaderRetryMs: RETRY_MS }
  const a = await startAudit({ ca, storage, dir: keyDir, config })
  open.push(a)
  const b = await startAudit({ ca, storage, dir: keyDir, config })
  open.push(b)
  assert.equal(a.service.leader, true)
  const atA = await a.client('gateway')
  assert.equal((await atA.call('POST', '/v1/events', { events: [makeEvent('gateway')] })).status, 200)
  const headBefore = (await (await a.operator()).call('GET', '/v1/tree-head')).body

  // The database ends the writer's lock session (as when its host vanishes): the lock is released with it.
  const dbName = new URL(database).pathname.slice(1)
  const killed = await server!.admin(`SELECT pg_terminate_backend(pid) AS done FROM pg_locks WHERE locktype = 'advisory' AND granted
    AND pid IN (SELECT pid FROM pg_stat_activity WHERE datname = '${dbName}')`)
  assert.equal(killed.rowCount, 1)
  await until('the cut writer knows it is no longer the writer', () => !a.service.leader, 5000)
  await until('the other replica takes over', () => b.service.leader, 10_000)
  assert.equal((await atA.call('POST', '/v1/events', { events: [makeEvent('gateway')] })).status, 503, 'the old writer refuses')
  const atB = await b.client('gateway')
  assert.equal((await atB.call('POST', '/v1/events', { events: [makeEvent('gateway'), makeEvent('gateway')] })).status, 200)

  const opB = await b.operator()
  const headAfter = (await opB.call('GET', '/v1/tree-head')).body
  const proof = (await opB.call('GET', `/v1/proofs/consistency?first=${headBefore.treeSize}&second=${headAfter.treeSize}`)).body
  assert.ok(verifyConsistency(headBefore.treeSize, headAfter.treeSize, hex(headBefore.rootHash), hex(headAfter.rootHash), proof.proof.map(hex)))
  assert.equal((await opB.call('GET', '/v1/verify')).body.ok, true)
  // And the old writer, now a follower, reads the same log.
  assert.deepEqual((await (await a.operator()).call('GET', '/v1/tree-head')).body, headAfter)
})
