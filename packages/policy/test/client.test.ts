import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { BulwarkError, createMemoryAuditSink, createMetrics, createSilentLogger } from '@bulwark/core'
import {
  createCedarAuthorizer, createEnforcer, createPolicyClient, createShadowAuthorizer, ownedEntity, requestContext, userEntity, validatePolicyFiles,
} from '@bulwark/sdk/policy'
import type { AuthzRequest } from '@bulwark/core'
import { readDefaultPolicies, readDefaultSchema } from '../src/defaults.ts'
import { startHarness, type Harness } from './helpers.ts'
import type { Agent } from 'undici'

let h: Harness
let operator: Agent
const defaults = readDefaultPolicies()
const schema = readDefaultSchema()

before(async () => {
  h = await startHarness()
  operator = await h.agent('operator')
})
after(async () => { await h.close() })

const alice = userEntity({ id: 'alice', roles: ['customer'] })
const bob = userEntity({ id: 'bob', roles: ['customer'] })
const aliceOrder = ownedEntity('Order', 'o-1', 'alice')
function getOrder(principal: typeof alice): AuthzRequest {
  return { principal: principal.uid, action: { type: 'Action', id: 'orders.get' }, resource: aliceOrder.uid, context: requestContext({ authenticated: true }), entities: [principal, aliceOrder] }
}
const withoutOwnerRule = { ...defaults, 'shop.cedar': defaults['shop.cedar']!.replace(/@id\("orders-get-owner"\)[\s\S]*?};\n/, '') }

test('denies everything until the first set arrives (fail closed)', async () => {
  const client = createPolicyClient({ url: 'https://127.0.0.1:1', dispatcher: await h.agent('orders'), log: createSilentLogger(), retryMs: 10_000, recordSampleRate: 0 })
  const d = client.authorize(getOrder(alice))
  assert.equal(d.decision, 'deny')
  assert.deepEqual(d.errors, ['no policy set loaded yet'])
  await client.close()
})

test('pulls the active set, follows changes by long-poll, and keeps the last good set while the service is down', async () => {
  const metrics = createMetrics('orders')
  const client = createPolicyClient({ url: h.url, dispatcher: await h.agent('orders'), log: createSilentLogger(), metrics, recordSampleRate: 0, waitSeconds: 20, retryMs: 20, maxRetryMs: 50, clock: h.clock })
  await client.ready(10_000)
  assert.equal(client.version(), '1')
  assert.equal(client.authorize(getOrder(alice)).decision, 'allow')
  assert.equal(client.authorize(getOrder(bob)).decision, 'deny')

  const applied = await h.call(operator, 'POST', '/v1/policy-sets', { policies: withoutOwnerRule })
  assert.equal(applied.status, 201)
  await client.waitForVersion('2', 10_000)
  assert.equal(client.authorize(getOrder(alice)).decision, 'deny')

  h.clock.advance(90_000)
  const text = await metrics.registry.metrics()
  assert.match(text, /bulwark_policy_set_version\{component="orders"\} 2/)
  assert.match(text, /bulwark_policy_set_age_seconds\{component="orders"\} 90/)

  await h.stop()
  // The service is gone: decisions go on, from version 2.
  for (let i = 0; i < 3; i++) assert.deepEqual([client.authorize(getOrder(alice)).decision, client.version()], ['deny', '2'])
  await waitUntil(async () => /bulwark_policy_pull_errors_total\{component="orders"\} [1-9]/.test(await metrics.registry.metrics()))
  assert.ok((client.syncAge() ?? 0) >= 0)

  // It comes back (same store, same port): the client resyncs on its own.
  await h.restart()
  await h.call(operator, 'POST', '/v1/policy-sets/1/activate')
  await client.waitForVersion('1', 10_000)
  assert.equal(client.authorize(getOrder(alice)).decision, 'allow')
  await client.close()
})

test('records sampled decisions into the decision log, and the dry-run diff replays them', async () => {
  const client = createPolicyClient({ url: h.url, dispatcher: await h.agent('gateway'), log: createSilentLogger(), recordSampleRate: 1, waitSeconds: 5 })
  await client.ready(10_000)
  const active = client.version()!
  for (let i = 0; i < 5; i++) client.authorize(getOrder(alice))
  client.authorize(getOrder(bob))
  client.authorize({ principal: { type: 'Anonymous', id: 'anonymous' }, action: { type: 'Action', id: 'catalog.listProducts' }, resource: { type: 'Catalog', id: 'main' }, context: requestContext({ authenticated: false }) })
  await client.close()
  assert.equal(await h.svc.store.decisionCount(), 7)
  assert.equal((await h.svc.store.recentDecisions(1))[0]!.source, 'spiffe://bulwark.test/svc/gateway')

  const diff = await h.call(operator, 'POST', '/v1/policy-sets/diff', { policies: withoutOwnerRule })
  assert.equal(diff.status, 200)
  assert.deepEqual([diff.body.activeVersion, diff.body.replayed, diff.body.changed, diff.body.allowToDeny, diff.body.denyToAllow], [active, 7, 5, 5, 0])
  assert.deepEqual(diff.body.changes.removed, ['orders-get-owner'])
  const sample = diff.body.samples[0]
  assert.deepEqual([sample.action, sample.principal, sample.before, sample.after, sample.beforeReasons], ['orders.get', 'User::"alice"', 'allow', 'deny', ['orders-get-owner']])
  assert.ok(h.audit.events.some((e) => e.type === 'policy.diffed' && e.details?.changed === 5))
  // A dry run changes nothing.
  assert.equal((await h.call(await h.agent('users'), 'GET', '/v1/policy-set')).body.version, active)
  const invalid = await h.call(operator, 'POST', '/v1/policy-sets/diff', { policies: 'permit(principal is Ghost, action, resource);' })
  assert.equal(invalid.body.code, 'BW_POLICY_INVALID')
})

test('refuses malformed decision batches and writes nothing', async () => {
  const gw = await h.agent('gateway')
  const before = await h.svc.store.decisionCount()
  const good = { time: new Date().toISOString(), principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'orders.get' }, resource: { type: 'Order', id: '1' }, context: {}, entities: [], decision: 'allow', policyVersion: '1' }
  for (const body of [{ decisions: [] }, { decisions: [{ ...good, decision: 'maybe' }] }, { decisions: [{ ...good, extra: true }] }, { decisions: [good], more: 1 }, { decisions: [{ ...good, time: 'yesterday' }] }]) {
    const res = await h.call(gw, 'POST', '/v1/decisions', body)
    assert.equal(res.status, 400, JSON.stringify(body))
  }
  assert.equal(await h.svc.store.decisionCount(), before)
  assert.equal((await h.call(gw, 'POST', '/v1/decisions', { decisions: [good] })).status, 202)
})

test('shadow mode serves the active decision and counts what the candidate would change', () => {
  const active = createCedarAuthorizer({ schema, policies: validatePolicyFiles(schema, defaults).policies, version: '1' })
  const candidate = createCedarAuthorizer({ schema, policies: validatePolicyFiles(schema, withoutOwnerRule).policies, version: 'candidate' })
  const metrics = createMetrics('orders')
  const shadow = createShadowAuthorizer({ active, candidate, metrics })
  assert.equal(shadow.authorize(getOrder(alice)).decision, 'allow')
  assert.equal(shadow.authorize(getOrder(bob)).decision, 'deny')
  assert.equal(shadow.authorize(getOrder(alice)).policyVersion, '1')
  const report = shadow.report()
  assert.deepEqual([report.evaluated, report.differing, report.allowToDeny, report.denyToAllow], [3, 2, 2, 0])
  assert.deepEqual([report.samples[0]!.active, report.samples[0]!.candidate, report.samples[0]!.activeReasons], ['allow', 'deny', ['orders-get-owner']])
  active.dispose()
  candidate.dispose()
})

test('the client shadows a candidate on live decisions without changing them', async () => {
  const client = createPolicyClient({ url: h.url, dispatcher: await h.agent('orders'), log: createSilentLogger(), waitSeconds: 5, recordSampleRate: 0 })
  await client.ready(10_000)
  client.startShadow({ policies: withoutOwnerRule })
  assert.equal(client.authorize(getOrder(alice)).decision, 'allow')
  assert.equal(client.authorize(getOrder(bob)).decision, 'deny')
  assert.deepEqual(client.shadowReport()!.allowToDeny, 1)
  const report = client.stopShadow()!
  assert.deepEqual([report.evaluated, report.differing, report.samples[0]!.action], [2, 1, 'orders.get'])
  assert.equal(client.shadowReport(), undefined)
  await client.close()
})

test('the enforcer: reading someone else\'s order is denied by policy, audited, and can be hidden as 404', () => {
  const authorizer = createCedarAuthorizer({ schema, policies: validatePolicyFiles(schema, defaults).policies, version: '1' })
  const audit = createMemoryAuditSink('orders')
  const enforcer = createEnforcer({ authorizer, audit })
  const context = requestContext({ authenticated: true })
  assert.equal(enforcer.authorize(alice, 'orders.get', aliceOrder, context).allowed, true)
  const denied = enforcer.authorize(bob, 'orders.get', aliceOrder, context, { requestId: 'req-12345678' })
  assert.equal(denied.allowed, false)
  const event = audit.events.at(-1)!
  assert.deepEqual([event.type, event.actor.id, event.action, event.resource, event.outcome, event.reason], ['authz.denied', 'bob', 'orders.get', 'Order::"o-1"', 'denied', 'no_permit'])
  assert.throws(() => enforcer.check(bob, 'orders.get', aliceOrder, context, { hide: true }), (e: unknown) => e instanceof BulwarkError && e.status === 404)
  assert.throws(() => enforcer.check(bob, 'orders.get', aliceOrder, context), (e: unknown) => e instanceof BulwarkError && e.code === 'BW_AUTHZ_DENIED')
  // An admin who signed in with a second factor may read it; without one, or unauthenticated, not.
  const admin = userEntity({ id: 'root', roles: ['admin'] })
  assert.equal(enforcer.authorize(admin, 'orders.get', aliceOrder, requestContext({ authenticated: true, mfa: true })).allowed, true)
  assert.equal(enforcer.authorize(admin, 'orders.get', aliceOrder, context).allowed, false)
  assert.equal(enforcer.authorize(admin, 'orders.get', aliceOrder, requestContext({ authenticated: false, mfa: true })).allowed, false)
  authorizer.dispose()
})

async function waitUntil(predicate: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const start = Date.now()
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached')
    await new Promise((resolve) => setImmediate(resolve))
  }
}
