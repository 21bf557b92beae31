import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createAuthorizeStage, cedarRequest } from '../src/pipeline/authorize.ts'
import { createFixtureAuthorizer } from './fixtures/cedar-authorizer.ts'
import { makeCtx, makeReq, outcome, routeOf } from './helpers-unit.ts'
import type { Principal } from '../src/pipeline/types.ts'

const user = (subject: string, roles: string[] = ['customer'], scopes: string[] = []): Principal => ({ kind: 'user', subject, clientId: 'shop-cli', roles, scopes, claims: {} })
const client = (id: string, scopes: string[]): Principal => ({ kind: 'client', subject: id, clientId: id, roles: [], scopes, claims: {} })

const stage = createAuthorizeStage({ authorizer: createFixtureAuthorizer() })

const cases: Array<[string, Record<string, unknown>, Principal | undefined, string]> = [
  ['anyone may list products', { action: 'catalog.listProducts', public: true }, undefined, 'ok'],
  ['a user may read an order', { action: 'orders.get' }, user('alice'), 'ok'],
  ['the reporting client may list orders with its scope', { action: 'orders.list' }, client('reporting-job', ['orders:read:all']), 'ok'],
  ['the reporting client may not without it', { action: 'orders.list' }, client('reporting-job', []), 'BW_AUTHZ_DENIED'],
  ['the reporting client may not create orders', { action: 'orders.create' }, client('reporting-job', ['orders:read:all']), 'BW_AUTHZ_DENIED'],
  ['anonymous may not read orders', { action: 'orders.get' }, undefined, 'BW_AUTHZ_DENIED'],
  ['a customer may not create products (Cedar)', { action: 'catalog.createProduct' }, user('bob'), 'BW_AUTHZ_DENIED'],
  ['an admin may create products', { action: 'catalog.createProduct', roles: ['admin'] }, user('root', ['admin']), 'ok'],
  ['the role check comes before Cedar', { action: 'catalog.createProduct', roles: ['admin'] }, user('bob'), 'BW_AUTHZ_ROLE_MISSING'],
  ['an explicit forbid wins', { action: 'orders.get' }, user('mallory', ['admin']), 'BW_AUTHZ_DENIED'],
  ['missing scope', { scopes: ['orders:write'] }, user('alice', ['customer'], ['orders:read']), 'BW_AUTHZ_SCOPE_MISSING'],
  ['all scopes present', { scopes: ['a', 'b'] }, user('alice', ['customer'], ['b', 'a', 'c']), 'ok'],
  ['no action: only scopes and roles', {}, user('alice'), 'ok'],
]
for (const [name, route, principal, expected] of cases) {
  test(`authorize: ${name}`, async () => {
    assert.equal(await outcome(() => stage.run(makeReq(), makeCtx({ route: routeOf(route), principal }))), expected)
  })
}

test('an authorizer that throws or reports errors denies (fail closed)', async () => {
  const throwing = createAuthorizeStage({ authorizer: { authorize() { throw new Error('wasm trap') } } })
  const erroring = createAuthorizeStage({ authorizer: { authorize: () => ({ decision: 'allow', reasons: ['p'], errors: ['type error'], policyVersion: '1' }) } })
  for (const s of [throwing, erroring]) {
    const error = await s.run(makeReq(), makeCtx({ route: routeOf({ action: 'orders.get' }), principal: user('alice') })).catch((e) => e)
    assert.equal(error.code, 'BW_AUTHZ_ERROR')
    assert.equal(error.extensions.outcome, 'error')
  }
})

test('the Cedar request names principal, action, resource and context', () => {
  const request = cedarRequest(makeReq({ method: 'GET', path: '/api/orders/o1' }), makeCtx({ route: routeOf({ id: 'orders.get', action: 'orders.get' }), principal: user('alice', ['customer', 'admin'], ['s']), params: { id: 'o1' } }), 'orders.get')
  assert.deepEqual(request.principal, { type: 'User', id: 'alice' })
  assert.deepEqual(request.action, { type: 'Action', id: 'orders.get' })
  assert.deepEqual(request.resource, { type: 'Route', id: 'orders.get' })
  assert.deepEqual(request.context, { authenticated: true, mfa: false, scopes: ['s'], method: 'GET', path: '/api/orders/o1', ip: { __extn: { fn: 'ip', arg: '127.0.0.1' } } })
  assert.deepEqual(request.entities?.find((e) => e.uid.type === 'User')?.parents, [{ type: 'Role', id: 'customer' }, { type: 'Role', id: 'admin' }])
})

test('the client address reaches Cedar as an ipaddr', async () => {
  const route = routeOf({ action: 'catalog.listProducts', public: true })
  assert.equal(await outcome(() => stage.run(makeReq(), makeCtx({ route, clientIp: '192.0.2.9' }))), 'BW_AUTHZ_DENIED')
  assert.equal(await outcome(() => stage.run(makeReq(), makeCtx({ route, clientIp: '198.51.100.9' }))), 'ok')
})

test('the policy service\'s own gateway policy admits the demo edge routes', async () => {
  const { readFileSync, existsSync } = await import('node:fs')
  const file = new URL('../../policy/policies/gateway.cedar', import.meta.url)
  const shop = new URL('../../policy/policies/shop.cedar', import.meta.url)
  if (!existsSync(file) || !existsSync(shop)) return
  const real = createAuthorizeStage({ authorizer: createFixtureAuthorizer(readFileSync(file, 'utf8') + '\n' + readFileSync(shop, 'utf8')) })
  const table: Array<[Record<string, unknown>, Principal | undefined, string]> = [
    [{ id: 'orders.get', action: 'orders.get' }, user('alice'), 'ok'],
    [{ id: 'catalog.listProducts', action: 'catalog.listProducts', public: true }, undefined, 'ok'],
    [{ id: 'users.listUsers', action: 'users.listUsers' }, user('bob'), 'BW_AUTHZ_DENIED'],
    [{ id: 'users.listUsers', action: 'users.listUsers' }, user('root', ['admin']), 'ok'],
    [{ id: 'orders.list', action: 'orders.list' }, client('reporting-job', ['orders:read:all']), 'ok'],
  ]
  for (const [route, principal, expected] of table) {
    assert.equal(await outcome(() => real.run(makeReq(), makeCtx({ route: routeOf(route), principal }))), expected, JSON.stringify(route))
  }
})
