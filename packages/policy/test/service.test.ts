import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readDefaultPolicies } from '../src/defaults.ts'
import { startHarness, type Harness } from './helpers.ts'
import type { Agent } from 'undici'

let h: Harness
let operator: Agent
let gateway: Agent
const defaults = readDefaultPolicies()

before(async () => {
  h = await startHarness()
  operator = await h.agent('operator')
  gateway = await h.agent('gateway')
})
after(async () => { await h.close() })

function withFile(name: string, text: string): Record<string, string> {
  return { ...defaults, [name]: text }
}

test('seeds version 1 from the defaults and distributes it with an ETag to any verified peer', async () => {
  const res = await h.call(gateway, 'GET', '/v1/policy-set')
  assert.equal(res.status, 200)
  assert.equal(res.headers.etag, '"1"')
  assert.equal(res.body.version, '1')
  assert.match(res.body.policies, /@id\("orders-get-owner"\)/)
  assert.match(res.body.schema, /entity Order/)
  const unchanged = await h.call(gateway, 'GET', '/v1/policy-set', undefined, { 'if-none-match': '"1"' })
  assert.equal(unchanged.status, 304)
  assert.ok(h.audit.events.some((e) => e.type === 'policy.applied' && e.details?.version === 1))
})

test('the admin API refuses a workload certificate', async () => {
  const res = await h.call(gateway, 'POST', '/v1/policy-sets', { policies: defaults })
  assert.equal(res.status, 403)
  assert.equal(res.body.code, 'BW_PEER_IDENTITY')
  assert.equal((await h.call(gateway, 'GET', '/v1/policy-sets')).status, 403)
})

test('refuses a set with a syntax error, naming file and line; the active set is unchanged', async () => {
  const res = await h.call(operator, 'POST', '/v1/policy-sets', { policies: withFile('zz-broken.cedar', '// one\n\npermit(principal, action, resource') })
  assert.equal(res.status, 422)
  assert.equal(res.body.code, 'BW_POLICY_INVALID')
  assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  assert.match(res.body.errors[0].path, /^zz-broken\.cedar:3$/)
  assert.equal((await h.call(gateway, 'GET', '/v1/policy-set')).body.version, '1')
  const rejected = h.audit.events.filter((e) => e.type === 'policy.rejected')
  assert.equal(rejected.at(-1)?.reason, 'BW_POLICY_INVALID')
  assert.equal(rejected.at(-1)?.actor.kind, 'operator')
})

for (const [name, text, pattern] of [
  ['an unknown entity type', '@id("x") permit(principal is Robot, action == Action::"orders.get", resource);', /unrecognized entity type `Robot`/],
  ['an unknown action', '@id("x") permit(principal, action == Action::"orders.delete", resource);', /unrecognized action `Action::"orders.delete"`/],
  ['an attribute the schema does not have', '@id("x") permit(principal is User, action == Action::"orders.get", resource is Order) when { resource.secret == 1 };', /attribute `secret`/],
  ['a type error', '@id("x") permit(principal is User, action == Action::"orders.get", resource) when { context.mfa == "yes" };', /./],
  ['a duplicate policy id', '@id("orders-get-owner") permit(principal, action == Action::"orders.get", resource);', /duplicate policy id `orders-get-owner`/],
] as const) {
  test(`refuses ${name} with Cedar's diagnostics`, async () => {
    const res = await h.call(operator, 'POST', '/v1/policy-sets', { policies: withFile('zz-bad.cedar', text) })
    assert.equal(res.status, 422, JSON.stringify(res.body))
    assert.equal(res.body.code, 'BW_POLICY_INVALID')
    assert.ok(res.body.errors.some((e: { message: string }) => pattern.test(e.message)), JSON.stringify(res.body.errors))
    assert.equal((await h.call(gateway, 'GET', '/v1/policy-set')).body.version, '1')
  })
}

test('refuses a set that would lock the operator out of the admin API', async () => {
  const { ['platform.cedar']: _platform, ...rest } = defaults
  const locked = { ...rest, 'platform.cedar': _platform!.replace(/@id\("platform-operator-admin"\)[\s\S]*?};\n/, '') }
  const res = await h.call(operator, 'POST', '/v1/policy-sets', { policies: locked })
  assert.equal(res.status, 422)
  assert.equal(res.body.code, 'BW_POLICY_LOCKOUT')
  assert.match(res.body.errors[0].message, /operator `spiffe:\/\/bulwark\.test\/operator\/admin` would be denied/)
  // A forbid is as bad as a missing permit.
  const forbid = await h.call(operator, 'POST', '/v1/policy-sets', { policies: withFile('zz.cedar', '@id("no-ops") forbid(principal is Operator, action, resource);') })
  assert.equal(forbid.body.code, 'BW_POLICY_LOCKOUT')
  assert.match(forbid.body.errors[0].message, /by `no-ops`/)
  assert.equal((await h.call(gateway, 'GET', '/v1/policy-set')).body.version, '1')
})

test('refuses a set larger than maxPolicyBytes', () => {
  assert.throws(() => h.svc.sets.check({ 'big.cedar': `// ${'x'.repeat(h.svc.config.maxPolicyBytes)}\n` }), (e: { code?: string; status?: number }) => e.code === 'BW_POLICY_TOO_LARGE' && e.status === 413)
})

test('validate reports without changing anything', async () => {
  const ok = await h.call(operator, 'POST', '/v1/policy-sets/validate', { policies: defaults })
  assert.deepEqual([ok.status, ok.body.ok, ok.body.errors], [200, true, []])
  const bad = await h.call(operator, 'POST', '/v1/policy-sets/validate', { policies: 'permit(principal is Nope, action, resource);' })
  assert.equal(bad.body.ok, false)
  assert.equal((await h.call(gateway, 'GET', '/v1/policy-set')).body.version, '1')
})

test('malformed admin bodies are 400 problems', async () => {
  assert.equal((await h.call(operator, 'POST', '/v1/policy-sets', { policies: defaults, extra: 1 })).status, 400)
  assert.equal((await h.call(operator, 'POST', '/v1/policy-sets', { policies: 42 })).status, 400)
  assert.equal((await h.call(operator, 'POST', '/v1/policy-sets', '{not json')).status, 400)
  assert.equal((await h.call(operator, 'POST', '/v1/policy-sets/abc/activate')).status, 400)
  assert.equal((await h.call(operator, 'POST', '/v1/policy-sets/99/activate')).body.code, 'BW_POLICY_VERSION_UNKNOWN')
})

test('apply, long-poll wake-up, list, and roll back to an older version', async () => {
  const waiting = h.call(gateway, 'GET', '/v1/policy-set?wait=30', undefined, { 'if-none-match': '"1"' })
  const extra = '@id("orders-get-support") permit(principal in Role::"support", action == Action::"orders.get", resource is Order) when { context.authenticated };'
  const applied = await h.call(operator, 'POST', '/v1/policy-sets', { policies: withFile('support.cedar', extra), message: 'support reads orders' })
  assert.equal(applied.status, 201)
  assert.equal(applied.body.version, 2)
  assert.deepEqual(applied.body.changes, { added: ['orders-get-support'], removed: [], changed: [] })
  const woken = await waiting
  assert.equal(woken.status, 200)
  assert.equal(woken.body.version, '2')
  const event = h.audit.events.find((e) => e.type === 'policy.applied' && e.details?.version === 2)!
  assert.equal(event.actor.spiffeId, 'spiffe://bulwark.test/operator/admin')
  assert.equal(event.details?.added, 'orders-get-support')
  // Applying the same set again makes no new version.
  const again = await h.call(operator, 'POST', '/v1/policy-sets', { policies: withFile('support.cedar', extra) })
  assert.deepEqual([again.status, again.body.version, again.body.unchanged], [200, 2, true])
  const list = await h.call(operator, 'GET', '/v1/policy-sets')
  assert.deepEqual(list.body.versions.map((v: { version: number }) => v.version), [2, 1])
  assert.equal(list.body.active.version, 2)
  const rollback = await h.call(operator, 'POST', '/v1/policy-sets/1/activate')
  assert.deepEqual(rollback.body, { version: 1, previous: 2 })
  assert.equal((await h.call(gateway, 'GET', '/v1/policy-set')).headers.etag, '"1"')
  const activated = h.audit.events.find((e) => e.type === 'policy.activated')!
  assert.deepEqual([activated.details?.version, activated.details?.previous, activated.details?.removed], [1, 2, 1])
  const shown = await h.call(operator, 'GET', '/v1/policy-sets/2')
  assert.ok(shown.body.policies['orders-get-support'])
  await h.call(operator, 'POST', '/v1/policy-sets/2/activate')
})

test('a long-poll without a change answers 304 after the wait', async () => {
  const current = (await h.call(gateway, 'GET', '/v1/policy-set')).headers.etag as string
  const res = await h.call(gateway, 'GET', '/v1/policy-set?wait=1', undefined, { 'if-none-match': current })
  assert.equal(res.status, 304)
  assert.equal(res.headers.etag, current)
})
