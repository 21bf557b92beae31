import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { cedar, createCedarAuthorizer, validatePolicyFiles, type CedarEntity } from '@bulwark/sdk/policy'
import { FIXTURES_DIR, readDefaultPolicies, readDefaultSchema } from '../src/defaults.ts'

const schema = readDefaultSchema()
const policies = validatePolicyFiles(schema, readDefaultPolicies()).policies
const entities = JSON.parse(readFileSync(join(FIXTURES_DIR, 'demo-shop', 'entities.json'), 'utf8')) as CedarEntity[]
const ACTIONS = ['catalog.listProducts', 'catalog.getProduct', 'catalog.createProduct', 'users.getMe', 'users.updateMe', 'users.deleteMe',
  'users.exportMe', 'users.listUsers', 'payments.createMethod', 'payments.listMethods', 'payments.deleteMethod', 'payments.charge', 'orders.create', 'orders.list', 'orders.get', 'call']
const CONTEXTS = [
  {}, { authenticated: true, mfa: false, scopes: [] }, { authenticated: true, mfa: true, scopes: ['orders:read:all'] },
  { authenticated: false, mfa: false, scopes: [] }, { authenticated: true, mfa: false, scopes: [], callerService: 'orders', ip: { __extn: { fn: 'ip', arg: '10.0.0.1' } } },
]

test('slicing, trimming and caching decide exactly as Cedar does on the whole set', () => {
  const authz = createCedarAuthorizer({ schema, policies, version: '1' })
  const principals = entities.filter((e) => ['User', 'Client', 'Anonymous', 'Service', 'Operator'].includes(e.uid.type))
  let compared = 0, allows = 0
  // The reference: Cedar on the whole set with every entity (preparsed once, so the test stays fast).
  assert.equal(cedar.preparsePolicySet('reference-full-set', { staticPolicies: policies }).type, 'success')
  let n = 0
  for (const p of principals) for (const action of ACTIONS) for (const r of entities) for (const context of [CONTEXTS[n++ % CONTEXTS.length]!]) {
    if (n % 2 === 0 && r.uid.type !== 'Order') continue // every other combination (all on orders), to keep the test fast
    const call = { principal: p.uid, action: { type: 'Action', id: action }, resource: r.uid, context }
    const reference = cedar.statefulIsAuthorized({ ...call, preparsedPolicySetId: 'reference-full-set', entities } as never)
    assert.equal(reference.type, 'success')
    const ref = reference.type === 'success' ? reference.response : undefined
    const expected = ref!.diagnostics.errors.length > 0 ? 'deny' : ref!.decision
    for (let round = 0; round < 2; round++) { // the second round is served from the cache
      const got = authz.authorize({ ...call, entities })
      assert.equal(got.decision, expected, `${p.uid.id} ${action} ${r.uid.type}::${r.uid.id} ${JSON.stringify(context)}`)
      assert.deepEqual([...got.reasons].sort(), [...ref!.diagnostics.reason].sort())
    }
    compared++
    if (expected === 'allow') allows++
  }
  assert.ok(compared > 3_000 && allows > 50, `${compared} requests, ${allows} allowed`)
  assert.ok(authz.stats().cacheHits > 0)
  authz.dispose()
})

test('default deny: a request no policy matches is denied with no reasons', () => {
  const authz = createCedarAuthorizer({ policies: '@id("p") permit(principal == User::"a", action == Action::"orders.get", resource);' })
  const d = authz.authorize({ principal: { type: 'User', id: 'b' }, action: { type: 'Action', id: 'orders.get' }, resource: { type: 'Order', id: '1' } })
  assert.deepEqual([d.decision, d.reasons], ['deny', []])
  const unknown = authz.authorize({ principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'nope' }, resource: { type: 'Order', id: '1' } })
  assert.equal(unknown.decision, 'deny')
})

test('RBAC: a role permits through entity parents; ABAC: attributes and context decide', () => {
  const authz = createCedarAuthorizer({ policies: `
    @id("rbac") permit(principal in Role::"admin", action == Action::"users.listUsers", resource);
    @id("abac") permit(principal is User, action == Action::"orders.get", resource is Order) when { resource.owner == principal && context.mfa && principal.country == "NL" };` })
  const admin = { uid: { type: 'User', id: 'root' }, attrs: {}, parents: [{ type: 'Role', id: 'admin' }] }
  const plain = { uid: { type: 'User', id: 'u' }, attrs: { country: 'NL' }, parents: [] }
  const listUsers = (p: typeof admin) => authz.authorize({ principal: p.uid, action: { type: 'Action', id: 'users.listUsers' }, resource: { type: 'UserDirectory', id: 'all' }, entities: [p] })
  assert.equal(listUsers(admin).decision, 'allow')
  assert.equal(listUsers(plain).decision, 'deny')
  const order = (owner: string) => ({ uid: { type: 'Order', id: `o-${owner}` }, attrs: { owner: { __entity: { type: 'User', id: owner } } }, parents: [] })
  const get = (o: ReturnType<typeof order>, mfa: boolean, country = 'NL') => authz.authorize({
    principal: plain.uid, action: { type: 'Action', id: 'orders.get' }, resource: o.uid, context: { mfa },
    entities: [{ ...plain, attrs: { country } }, o],
  }).decision
  assert.equal(get(order('u'), true), 'allow')
  assert.equal(get(order('u'), false), 'deny')
  assert.equal(get(order('someone-else'), true), 'deny')
  assert.equal(get(order('u'), true, 'US'), 'deny')
})

test('forbid overrides permit', () => {
  const authz = createCedarAuthorizer({ policies: `
    @id("allow-all") permit(principal, action, resource);
    @id("no-locked") forbid(principal is User, action, resource) when { principal has locked && principal.locked };` })
  const req = (locked: boolean) => authz.authorize({
    principal: { type: 'User', id: 'm' }, action: { type: 'Action', id: 'orders.get' }, resource: { type: 'Order', id: '1' },
    entities: [{ uid: { type: 'User', id: 'm' }, attrs: { locked }, parents: [] }],
  })
  assert.equal(req(false).decision, 'allow')
  const denied = req(true)
  assert.equal(denied.decision, 'deny')
  assert.deepEqual(denied.reasons, ['no-locked'])
})

test('an evaluation error denies (fail closed) even when another policy permits', () => {
  const authz = createCedarAuthorizer({ policies: `
    @id("ok") permit(principal, action == Action::"orders.get", resource);
    @id("needs-owner") forbid(principal, action == Action::"orders.get", resource) when { resource.owner != principal };` })
  const d = authz.authorize({ principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'orders.get' }, resource: { type: 'Order', id: 'x' } })
  assert.equal(d.decision, 'deny')
  assert.equal(d.errors.length, 1)
})

test('time-dependent decisions are not cached; others are', () => {
  const authz = createCedarAuthorizer({ policies: `
    @id("office-hours") permit(principal, action == Action::"orders.list", resource) when { context.time < 1000 };
    @id("public") permit(principal, action == Action::"catalog.listProducts", resource);` })
  const at = (time: number) => authz.authorize({ principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'orders.list' }, resource: { type: 'OrderBook', id: 'a' }, context: { time } }).decision
  assert.equal(at(500), 'allow')
  assert.equal(at(500), 'allow')
  assert.equal(at(2000), 'deny')
  assert.equal(authz.stats().cacheHits, 0)
  for (let i = 0; i < 3; i++) authz.authorize({ principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'catalog.listProducts' }, resource: { type: 'Catalog', id: 'main' }, context: { time: i } })
  // The catalog slice never reads `time`, so it is trimmed from the key and the decision is reused.
  assert.equal(authz.stats().cacheHits, 2)
})

test('a malformed request is a deny with the reason, never a throw', () => {
  const authz = createCedarAuthorizer({ policies: '@id("p") permit(principal, action, resource) when { principal.x == 1 };' })
  const d = authz.authorize({ principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'orders.get' }, resource: { type: 'Order', id: '1' },
    entities: [{ uid: { type: 'User', id: 'a' }, attrs: { x: { __extn: { fn: 'nope', arg: 1 } } }, parents: [] }] })
  assert.equal(d.decision, 'deny')
  assert.ok(d.errors.length > 0)
  assert.throws(() => createCedarAuthorizer({ policies: 'permit(principal, action, resource' }), TypeError)
})

test('role gating follows the hierarchy exactly as Cedar does (nested roles, missing role entities)', () => {
  const text = `
    @id("staff") permit(principal in Role::"staff", action == Action::"orders.get", resource);
    @id("support-only") forbid(principal is User in Role::"support", action == Action::"orders.get", resource) when { context has mfa && !context.mfa };
    @id("other") permit(principal in Role::"other", action == Action::"orders.get", resource);`
  const authz = createCedarAuthorizer({ policies: text })
  const parsed = validatePolicyFiles(schema, { 'x.cedar': text }).policies
  assert.equal(cedar.preparsePolicySet('reference-gating', { staticPolicies: parsed }).type, 'success')
  const user = (parents: string[]) => ({ uid: { type: 'User', id: 'u' }, attrs: {}, parents: parents.map((id) => ({ type: 'Role', id })) })
  const support = { uid: { type: 'Role', id: 'support' }, attrs: {}, parents: [{ type: 'Role', id: 'staff' }] }
  const cases: Array<[CedarEntity[], Record<string, unknown>, 'allow' | 'deny']> = [
    [[user(['support']), support], { mfa: true }, 'allow'], // support -> staff, transitively
    [[user(['support']), support], { mfa: false }, 'deny'], // the gated forbid applies
    [[user(['support'])], { mfa: true }, 'deny'], // without the role entity Cedar knows no staff ancestor
    [[user(['staff'])], { mfa: false }, 'allow'],
    [[user([])], {}, 'deny'],
  ]
  for (const [ents, context, expected] of cases) {
    const call = { principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'orders.get' }, resource: { type: 'Order', id: 'o' }, context }
    const reference = cedar.statefulIsAuthorized({ ...call, preparsedPolicySetId: 'reference-gating', entities: ents } as never)
    assert.equal(reference.type === 'success' ? reference.response.decision : 'error', expected)
    assert.equal(authz.authorize({ ...call, entities: ents }).decision, expected, JSON.stringify([ents.length, context]))
  }
  authz.dispose()
})

test('the cache shares one entry between isomorphic requests and never between different ones', () => {
  const authz = createCedarAuthorizer({ policies: `
    @id("owner") permit(principal is User, action == Action::"orders.get", resource is Order) when { resource.owner.locked == false && resource.owner == principal };
    @id("vip") permit(principal == User::"vip", action == Action::"orders.list", resource);` })
  const user = (id: string, locked = false) => ({ uid: { type: 'User', id }, attrs: { locked }, parents: [] })
  const order = (id: string, owner: string) => ({ uid: { type: 'Order', id }, attrs: { owner: { __entity: { type: 'User', id: owner } } }, parents: [] })
  let last: { errors: string[] } = { errors: [] }
  const get = (principal: string, o: ReturnType<typeof order>, ents: CedarEntity[]) => {
    const d = authz.authorize({ principal: { type: 'User', id: principal }, action: { type: 'Action', id: 'orders.get' }, resource: o.uid, entities: [...ents, o] })
    last = d
    return d.decision
  }
  assert.equal(get('alice', order('o1', 'alice'), [user('alice')]), 'allow')
  assert.equal(get('bob', order('o2', 'bob'), [user('bob')]), 'allow')
  assert.equal(authz.stats().cacheHits, 1) // bob reading his order is alice reading hers, renamed
  assert.equal(get('bob', order('o1', 'alice'), [user('bob'), user('alice')]), 'deny')
  assert.equal(get('carol', order('o3', 'carol'), [user('carol', true)]), 'deny')
  // The owner pointer leads to an entity that is missing: an error, never alice's cached allow.
  assert.equal(get('dave', order('o4', 'alice'), [user('dave')]), 'deny')
  assert.equal(last.errors.length, 1)
  assert.equal(authz.stats().cacheHits, 1)
  // Isomorphic to bob reading alice's order (another order of hers): from the cache, still a deny.
  assert.equal(get('erin', order('o7', 'alice'), [user('erin'), user('alice')]), 'deny')
  assert.equal(authz.stats().cacheHits, 2)
  // Anyone reading an order that is not theirs is the same request up to renaming.
  assert.equal(get('gina', order('o8', 'hank'), [user('gina'), user('hank')]), 'deny')
  assert.equal(authz.stats().cacheHits, 3)
  // A literal of the principal's type keeps ids apart.
  const list = (principal: string) => authz.authorize({ principal: { type: 'User', id: principal }, action: { type: 'Action', id: 'orders.list' }, resource: { type: 'OrderBook', id: principal } }).decision
  assert.deepEqual([list('vip'), list('eve'), list('vip'), list('eve')], ['allow', 'deny', 'allow', 'deny'])
  // A request already holding the placeholder id is not cached at all.
  const before = authz.stats()
  get('\u0000#0', order('o5', '\u0000#0'), [user('\u0000#0')])
  get('\u0000#0', order('o5', '\u0000#0'), [user('\u0000#0')])
  assert.equal(authz.stats().cacheHits, before.cacheHits)
  authz.dispose()
})

test('accepts policies as Cedar text, as files (name -> text) or as an id map, with the same ids', () => {
  const files = readDefaultPolicies()
  const fromFiles = createCedarAuthorizer({ schema, policies: files })
  const fromIds = createCedarAuthorizer({ schema, policies })
  const fromText = createCedarAuthorizer({ schema, policies: Object.values(files).join('\n') })
  assert.deepEqual([...fromFiles.policyIds].sort(), [...fromIds.policyIds].sort())
  assert.deepEqual([...fromText.policyIds].sort(), [...fromIds.policyIds].sort())
  for (const a of [fromFiles, fromIds, fromText]) a.dispose()
})

test('action groups declared in the schema apply to their member actions', () => {
  const groups = 'entity User; entity Doc; action "read"; action "view", "download" in ["read"] appliesTo { principal: [User], resource: [Doc] };'
  const authz = createCedarAuthorizer({ schema: groups, policies: '@id("readers") permit(principal, action in Action::"read", resource);' })
  const decide = (action: string) => authz.authorize({ principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: action }, resource: { type: 'Doc', id: 'd' } })
  assert.deepEqual([decide('view').decision, decide('download').decision, decide('delete').decision], ['allow', 'allow', 'deny'])
  assert.deepEqual(decide('view').reasons, ['readers'])
  authz.dispose()
})
