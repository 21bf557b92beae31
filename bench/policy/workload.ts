// A realistic workload for the policy benchmark: 200 rules over the
// platform schema (public catalog, owners, admins, 100 support roles,
// country rules, embargo forbids, a 40-edge service graph, locked-account
// forbid), 1,000 users, 5,000 orders, skewed (hot users/products) traffic.
// Each rule is written once as Cedar and once as a casbin policy line.
import type { AuthzRequest } from '@bulwark/core'
import type { CedarEntity } from '@bulwark/sdk/policy'

export type Rule = { cedar: string; casbin: [string, string, string, string] } // [sub_rule, obj_type, act, eft]

function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const USER_ACTIONS: Array<[string, string]> = [
  ['orders.get', 'Order'], ['orders.list', 'OrderBook'], ['users.getMe', 'UserProfile'], ['users.updateMe', 'UserProfile'],
  ['payments.listMethods', 'Wallet'], ['payments.createMethod', 'Wallet'],
]
const ADMIN_ACTIONS = ['catalog.createProduct', 'users.listUsers', 'orders.get', 'orders.list']
const COUNTRIES = ['NL', 'DE', 'FR', 'US', 'GB', 'ES', 'IT', 'SE', 'PL', 'BE']
const EMBARGO = ['KP', 'IR', 'SY', 'CU', 'RU', 'BY', 'VE']
const SERVICES = Array.from({ length: 20 }, (_, i) => `svc${i}`)

export function buildRules(): Rule[] {
  const rnd = prng(7)
  const rules: Rule[] = []
  const add = (cedar: string, casbin: Rule['casbin']) => rules.push({ cedar: `@id("r${rules.length}")\n${cedar}`, casbin })
  for (const a of ['catalog.getProduct', 'catalog.listProducts']) add(`permit(principal, action == Action::"${a}", resource);`, ['true', '*', a, 'allow'])
  for (const [a, t] of USER_ACTIONS.slice(0, 4)) {
    add(`permit(principal is User, action == Action::"${a}", resource is ${t}) when { context.authenticated && ${t === 'OrderBook' ? 'resource has owner && ' : ''}resource.owner == principal };`,
      ['r.ctx.authenticated == true && r.obj.owner == r.sub.id', t, a, 'allow'])
  }
  for (const a of ADMIN_ACTIONS) {
    add(`permit(principal in Role::"admin", action == Action::"${a}", resource) when { context.authenticated && context has mfa && context.mfa };`,
      ['g(r.sub.id, "admin") && r.ctx.authenticated == true && r.ctx.mfa == true', '*', a, 'allow'])
  }
  add('forbid(principal is User, action, resource) when { principal has locked && principal.locked };', ['r.sub.type == "User" && r.sub.locked == true', '*', '*', 'deny'])
  for (let i = 0; i < 40; i++) {
    const from = SERVICES[i % 20]!, to = SERVICES[(i * 7 + 3) % 20]!
    add(`permit(principal is Service, action == Action::"call", resource is Endpoint) when { principal.name == "${from}" && resource.service == "${to}" };`,
      [`r.sub.name == "${from}" && r.obj.service == "${to}"`, 'Endpoint', 'call', 'allow'])
  }
  for (let i = 0; i < 100; i++) {
    const [a, t] = USER_ACTIONS[i % USER_ACTIONS.length]!
    add(`permit(principal in Role::"support-${i}", action == Action::"${a}", resource is ${t}) when { context.authenticated && context has mfa && context.mfa };`,
      [`g(r.sub.id, "support-${i}") && r.ctx.authenticated == true && r.ctx.mfa == true`, t, a, 'allow'])
  }
  for (let i = 0; i < 30; i++) {
    const [a, t] = USER_ACTIONS[4 + (i % 2)]!
    const c = COUNTRIES[Math.floor(rnd() * COUNTRIES.length)]!
    add(`permit(principal is User, action == Action::"${a}", resource is ${t}) when { context.authenticated && resource.owner == principal && principal has country && principal.country == "${c}" };`,
      [`r.ctx.authenticated == true && r.obj.owner == r.sub.id && r.sub.country == "${c}"`, t, a, 'allow'])
  }
  for (let i = 0; rules.length < 200; i++) {
    const [a] = USER_ACTIONS[i % USER_ACTIONS.length]!
    const c = EMBARGO[i % EMBARGO.length]!
    add(`forbid(principal is User, action == Action::"${a}", resource) when { principal has country && principal.country == "${c}" };`,
      [`r.sub.type == "User" && r.sub.country == "${c}"`, '*', a, 'deny'])
  }
  return rules
}

export type Workload = { requests: AuthzRequest[]; users: CedarEntity[]; roles: Array<[string, string]> }

/** `n` requests with a skewed (hot-key) choice of users, orders and products; `seed` picks the sample. */
export function buildWorkload(n: number, seed = 42): Workload {
  const rnd = prng(seed)
  const skew = (size: number) => Math.floor(size * rnd() ** 3)
  const users: CedarEntity[] = []
  const roles: Array<[string, string]> = []
  for (let i = 0; i < 1000; i++) {
    const r = ['customer', ...(i % 50 === 0 ? ['admin'] : []), ...(i % 10 === 1 ? [`support-${i % 100}`] : [])]
    for (const role of r) roles.push([`u${i}`, role])
    const country = i % 97 === 5 ? EMBARGO[i % EMBARGO.length]! : COUNTRIES[i % COUNTRIES.length]!
    users.push({ uid: { type: 'User', id: `u${i}` }, attrs: { username: `user${i}`, roles: r, country, locked: i % 100 === 99, emailVerified: true }, parents: r.map((id) => ({ type: 'Role', id })) })
  }
  const orderOwner = (o: number) => `u${(o * 7919) % 1000}`
  const requests: AuthzRequest[] = []
  for (let k = 0; k < n; k++) {
    const user = users[skew(1000)]!
    const ctx = { authenticated: true, mfa: rnd() < 0.3, scopes: ['openid', 'orders:read'], ip: { __extn: { fn: 'ip', arg: `203.0.113.${k % 250}` } }, method: 'GET', path: '/api' }
    const roll = rnd()
    const owned = (type: string, id: string, owner: string, attrs: Record<string, unknown> = {}): CedarEntity => ({ uid: { type, id }, attrs: { ...attrs, owner: { __entity: { type: 'User', id: owner } } }, parents: [] })
    let action: string, resource: CedarEntity
    if (roll < 0.35) { action = 'catalog.getProduct'; resource = { uid: { type: 'Product', id: `p${skew(200)}` }, attrs: { published: true, price: 1999 }, parents: [{ type: 'Catalog', id: 'main' }] } }
    else if (roll < 0.6) { const o = rnd() < 0.8 ? (Number(user.uid.id.slice(1)) * 7 + skew(5) * 1000) % 5000 : skew(5000); action = 'orders.get'; resource = owned('Order', `o${o}`, orderOwner(o), { total: 1000 + o, status: 'paid' }) }
    else if (roll < 0.7) { action = 'orders.list'; resource = owned('OrderBook', user.uid.id, user.uid.id) }
    else if (roll < 0.8) { action = 'users.getMe'; resource = owned('UserProfile', user.uid.id, user.uid.id) }
    else if (roll < 0.85) { action = 'payments.listMethods'; resource = owned('Wallet', user.uid.id, user.uid.id) }
    else {
      const from = SERVICES[skew(20)]!, to = SERVICES[Math.floor(rnd() * 20)]!
      const svc: CedarEntity = { uid: { type: 'Service', id: `spiffe://bulwark.local/svc/${from}` }, attrs: { name: from, trustDomain: 'bulwark.local' }, parents: [] }
      const route = `/v1/items/${Math.floor(rnd() * 5)}`
      const ep: CedarEntity = { uid: { type: 'Endpoint', id: `${to}:GET ${route}` }, attrs: { service: to, method: 'GET', route }, parents: [] }
      requests.push({ principal: svc.uid, action: { type: 'Action', id: 'call' }, resource: ep.uid, context: {}, entities: [svc, ep] })
      continue
    }
    requests.push({ principal: user.uid, action: { type: 'Action', id: action }, resource: resource.uid, context: ctx, entities: [user, resource] })
  }
  return { requests, users, roles }
}
