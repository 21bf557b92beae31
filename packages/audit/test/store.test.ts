// The audit store on both engines (embedded SQLite and a real PostgreSQL
// from testkit), through the real service over mTLS: appends with duplicate
// ids, a signed head per commit, a restart that rebuilds the same tree,
// proofs, an archive cut, alerts and the block feed.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { postgresSkipReason, startPostgres, tempDir, type TestPostgres } from '@bulwark/testkit'
import { verifyConsistency, verifyInclusion, verifyTreeHead } from '@bulwark/sdk/audit'
import { startAudit, makeEvent, type Harness, type StartOptions } from './helpers.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
const open: Harness[] = []

before(async () => { if (!pgSkip) server = await startPostgres() })
after(async () => {
  for (const h of open) await h.close()
  await server?.stop()
})

const engines: Array<{ name: string; skip: string | false; place(): Promise<Partial<StartOptions>> }> = [
  { name: 'sqlite', skip: false, place: async () => ({}) },
  { name: 'postgres', skip: pgSkip, place: async () => ({ storage: { postgres: { url: await server!.createDatabase('audit') } } }) },
]

async function start(options: Partial<StartOptions>): Promise<Harness> {
  const harness = await startAudit(options)
  open.push(harness)
  return harness
}

const hexes = (list: string[]) => list.map((h) => Buffer.from(h, 'hex'))

for (const engine of engines) {
  test(`${engine.name}: appends once per event id, signs a head per commit, and a restart rebuilds the same tree`, { skip: engine.skip }, async () => {
    const place = await engine.place()
    const dir = tempDir('bulwark-audit-store-')
    try {
      const first = await start({ ...place, dir: dir.path })
      assert.equal(first.service.store.dialect, engine.name)
      const gateway = await first.client('gateway')
      const events = Array.from({ length: 6 }, (_, i) => makeEvent('gateway', { requestId: `req-${i}` }))
      const one = await gateway.call('POST', '/v1/events', { events: [...events, events[2]] })
      assert.equal(one.status, 200, one.text)
      assert.deepEqual(one.body, { accepted: 6, duplicates: 1 })
      const again = await gateway.call('POST', '/v1/events', { events: [events[0], makeEvent('gateway', { requestId: 'req-6' })] })
      assert.deepEqual(again.body, { accepted: 1, duplicates: 1 })
      const operator = await first.operator()
      const head = (await operator.call('GET', '/v1/tree-head')).body
      assert.ok(verifyTreeHead(head, first.service.key.publicKeyPem))
      const size = first.service.log.size
      assert.equal(head.treeSize, size)
      const listed = (await operator.call('GET', '/v1/events?after=-1&limit=100')).body.entries as Array<{ index: number; event: { requestId?: string } }>
      assert.deepEqual(listed.map((e) => e.index), Array.from({ length: size }, (_, i) => i))
      assert.deepEqual(listed.filter((e) => e.event.requestId?.startsWith('req-')).map((e) => e.event.requestId), Array.from({ length: 7 }, (_, i) => `req-${i}`))

      const second = await first.restart()
      open.push(second)
      assert.equal(second.service.log.bootIntegrity.ok, true)
      assert.equal(second.service.log.size, size)
      assert.equal(second.service.log.tree.root(size).toString('hex'), head.rootHash)
      const more = await (await second.client('gateway')).call('POST', '/v1/events', { events: [events[5], makeEvent('gateway')] })
      assert.deepEqual(more.body, { accepted: 1, duplicates: 1 })
      const op2 = await second.operator()
      const now = (await op2.call('GET', '/v1/tree-head')).body
      const proof = (await op2.call('GET', `/v1/proofs/consistency?first=${size}&second=${now.treeSize}`)).body
      assert.ok(verifyConsistency(size, now.treeSize, Buffer.from(head.rootHash, 'hex'), Buffer.from(now.rootHash, 'hex'), hexes(proof.proof)))
      const inclusion = (await op2.call('GET', `/v1/proofs/inclusion?id=${events[3]!.id}`)).body
      assert.ok(verifyInclusion(Buffer.from(inclusion.leafHash, 'hex'), inclusion.index, inclusion.treeSize, hexes(inclusion.proof), Buffer.from(now.rootHash, 'hex')))
      const report = (await op2.call('GET', '/v1/verify')).body
      assert.equal(report.ok, true, report.problem)
      assert.equal(report.checked, now.treeSize)
    } finally {
      dir.remove()
    }
  })

  test(`${engine.name}: an archive cut keeps one log; alerts and blocks are stored and the block feed moves on`, { skip: engine.skip }, async () => {
    const harness = await start(await engine.place())
    const gateway = await harness.client('gateway')
    for (let i = 0; i < 3; i++) assert.equal((await gateway.call('POST', '/v1/events', { events: Array.from({ length: 4 }, () => makeEvent('gateway')) })).status, 200)
    const operator = await harness.operator()
    const before = (await operator.call('GET', '/v1/tree-head')).body
    const cut = await operator.call('POST', '/v1/archive', { upTo: 8 })
    assert.equal(cut.status, 200, cut.text)
    assert.equal(cut.body.archived.treeSize, 8)
    assert.equal(harness.service.log.base, 8)
    const archive = (await operator.call('GET', '/v1/archive')).body
    assert.equal(archive.checkpoint.treeHead.treeSize, 8)
    assert.equal((await operator.call('GET', '/v1/verify')).body.ok, true)
    const after = (await operator.call('GET', '/v1/tree-head')).body
    const proof = (await operator.call('GET', `/v1/proofs/consistency?first=${before.treeSize}&second=${after.treeSize}`)).body
    assert.ok(verifyConsistency(before.treeSize, after.treeSize, Buffer.from(before.rootHash, 'hex'), Buffer.from(after.rootHash, 'hex'), hexes(proof.proof)))

    const feed0 = (await (await harness.client('gateway')).call('GET', '/v1/blocks?after=0')).body
    assert.deepEqual(feed0.blocks, [])
    const alert = await harness.service.alerts.raise({
      detector: 'error_burst', severity: 'medium', key: '203.0.113.9', summary: 'errors from 203.0.113.9', details: { count: 60 },
      response: { kind: 'block', target: 'ip', value: '203.0.113.9', seconds: 300 },
    })
    assert.equal(alert.outcome?.status, 'done')
    assert.equal(await harness.service.blocks.isBlocked('ip', '203.0.113.9'), true)
    const feed1 = (await gateway.call('GET', `/v1/blocks?after=${feed0.seq}`)).body
    assert.deepEqual(feed1.blocks.map((b: { value: string }) => b.value), ['203.0.113.9'])
    assert.ok(feed1.seq > feed0.seq)
    const alerts = (await operator.call('GET', '/v1/alerts')).body.alerts
    assert.deepEqual(alerts.map((a: { id: string; outcome?: { status: string } }) => [a.id, a.outcome?.status]), [[alert.id, 'done']])
  })
}
