// The policy store on both engines (embedded SQLite and a real PostgreSQL
// from testkit), then the service on PostgreSQL: versions and the decision
// log survive a restart, and replicas starting together seed one version.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { createManualClock, createMemoryAuditSink, createSilentLogger } from '@bulwark/core'
import { createTestCa, postgresSkipReason, startPostgres, tempDir, type TestCa, type TestPostgres } from '@bulwark/testkit'
import { readDefaultPolicies } from '../src/defaults.ts'
import { createPolicyService } from '../src/server.ts'
import { openPolicyStore, type PolicyStore } from '../src/store.ts'
import { startHarness } from './helpers.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
const dir = tempDir('bulwark-policy-store-')
let ca: TestCa

before(async () => {
  ca = await createTestCa()
  if (!pgSkip) server = await startPostgres()
})
after(async () => {
  await server?.stop()
  dir.remove()
})

const engines = [
  { name: 'sqlite', skip: false as const, place: async (n: number) => ({ sqlitePath: join(dir.path, `store-${n}.db`) }) },
  { name: 'postgres', skip: pgSkip, place: async () => ({ sqlitePath: 'unused', storage: { postgres: { url: await server!.createDatabase('policy') } } }) },
]

const decision = (i: number) => ({
  time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), source: 'spiffe://bulwark.test/svc/gateway', decision: 'allow' as const, policyVersion: '1',
  request: { principal: { type: 'User', id: `u${i}` }, action: { type: 'Action', id: 'orders.get' }, resource: { type: 'Order', id: String(i) }, context: {}, entities: [] },
})

let opened = 0
for (const engine of engines) {
  test(`${engine.name}: policy versions, the active one and the pruned decision log`, { skip: engine.skip }, async () => {
    const store: PolicyStore = await openPolicyStore(await engine.place(opened++))
    try {
      assert.equal(await store.active(), undefined)
      const set = { schema: 's', policies: { 'a.cedar': 'permit(principal, action, resource);' }, digest: 'd1', createdAt: 1000, createdBy: 'op', message: 'first' }
      assert.equal(await store.insertAndActivate(set), 1)
      assert.equal(await store.insertAndActivate({ ...set, digest: 'd2', createdAt: 2000 }, { onlyIfNoneActive: true }), undefined, 'a seed after a set is active changes nothing')
      assert.equal(await store.insertAndActivate({ ...set, digest: 'd2', createdAt: 2000, message: 'second' }), 2)
      assert.deepEqual(await store.active(), { version: 2, activatedAt: 2000, activatedBy: 'op' })
      await store.activate(1, 'op2', 3000)
      assert.deepEqual(await store.active(), { version: 1, activatedAt: 3000, activatedBy: 'op2' })
      assert.deepEqual(await store.getSet(1), { version: 1, ...set })
      assert.equal(await store.getSet(9), undefined)
      assert.deepEqual((await store.listSets()).map((s) => [s.version, s.message, s.policyCount]), [[2, 'second', 1], [1, 'first', 1]])
      assert.equal(await store.appendDecisions(Array.from({ length: 450 }, (_, i) => decision(i)), 300), 450)
      assert.equal(await store.decisionCount(), 300, 'the oldest are pruned')
      const recent = await store.recentDecisions(2)
      assert.deepEqual(recent.map((d) => d.request.principal.id), ['u449', 'u448'])
      assert.equal(typeof recent[0]!.id, 'number')
    } finally {
      await store.close()
    }
  })
}

// SQLite has one writer per file and no replicas; this is PostgreSQL's case.
test('postgres: replicas seeding at the same moment store one version', { skip: pgSkip }, async () => {
  const place = await engines[1]!.place(0)
  const stores = await Promise.all(Array.from({ length: 4 }, () => openPolicyStore(place)))
  try {
    const set = { schema: 's', policies: {}, digest: 'd', createdAt: 1, createdBy: 'policy', message: 'seed' }
    const results = await Promise.all(stores.map((s) => s.insertAndActivate(set, { onlyIfNoneActive: true })))
    assert.deepEqual(results.filter((v) => v !== undefined), [1])
    assert.deepEqual((await stores[0]!.listSets()).map((s) => s.version), [1])
  } finally {
    await Promise.all(stores.map((s) => s.close()))
  }
})

test('postgres: the policy service keeps its versions and decision log in PostgreSQL across a restart', { skip: pgSkip }, async () => {
  const url = await server!.createDatabase('policysvc')
  const h = await startHarness({ ca, storage: { postgres: { url } } })
  try {
    assert.match(h.svc.store.location, /^postgres 127\.0\.0\.1:\d+\/policysvc_[0-9a-f]+ schema bulwark_policy$/)
    const operator = await h.agent('operator')
    const gateway = await h.agent('gateway')
    const defaults = readDefaultPolicies()
    const applied = await h.call(operator, 'POST', '/v1/policy-sets', { policies: { ...defaults, 'zz-extra.cedar': '@id("zz-extra") forbid(principal, action == Action::"orders.get", resource) when { false };' }, message: 'on postgres' })
    assert.equal(applied.status, 201)
    assert.equal(applied.body.version, 2)
    const good = { time: new Date().toISOString(), principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'orders.get' }, resource: { type: 'Order', id: '1' }, context: {}, entities: [], decision: 'allow', policyVersion: '2' }
    assert.equal((await h.call(gateway, 'POST', '/v1/decisions', { decisions: [good, good] })).status, 202)
    await h.stop()
    await h.restart()
    assert.equal((await h.call(gateway, 'GET', '/v1/policy-set')).body.version, '2')
    const list = await h.call(operator, 'GET', '/v1/policy-sets')
    assert.deepEqual(list.body.versions.map((v: { version: number; message: string }) => [v.version, v.message]), [[2, 'on postgres'], [1, 'seeded from the packaged defaults']])
    assert.equal(await h.svc.store.decisionCount(), 2)
    const rolledBack = await h.call(operator, 'POST', '/v1/policy-sets/1/activate')
    assert.deepEqual(rolledBack.body, { version: 1, previous: 2 })
    const rows = await server!.admin('SELECT version FROM bulwark_policy.active', new URL(url).pathname.slice(1))
    assert.deepEqual(rows.rows, [{ version: 1 }], 'the row is in schema bulwark_policy')
  } finally {
    await h.close()
  }
})

test('postgres: two policy replicas starting at once on one database seed a single version', { skip: pgSkip }, async () => {
  const storage = { postgres: { url: await server!.createDatabase('policyrep') } }
  const start = () => createPolicyService({ trustDomain: ca.trustDomain }, {
    log: createSilentLogger(), audit: createMemoryAuditSink('policy'), clock: createManualClock(Date.UTC(2026, 5, 1)),
    databasePath: 'unused', storage, https: null,
  })
  const [a, b] = await Promise.all([start(), start()])
  try {
    assert.deepEqual((await a.store.listSets()).map((s) => s.version), [1])
    assert.equal(a.sets.document()?.version, '1')
    assert.equal(b.sets.document()?.version, '1')
  } finally {
    await a.close()
    await b.close()
  }
})
