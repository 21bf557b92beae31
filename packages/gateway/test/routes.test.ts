import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compileRoutes } from '../src/routes.ts'

const table = compileRoutes(undefined)
const seg = (p: string) => p.slice(1).split('/')

const cases: Array<[string, string, string | number]> = [
  ['GET', '/api/orders/123', 'orders.get'], ['GET', '/api/orders', 'orders.list'], ['POST', '/api/orders', 'orders.create'],
  ['GET', '/api/catalog/products', 'catalog.listProducts'], ['POST', '/api/catalog/products', 'catalog.createProduct'],
  ['GET', '/api/catalog/products/p1', 'catalog.getProduct'], ['HEAD', '/api/catalog/products/p1', 'catalog.getProduct'],
  ['GET', '/api/users/me', 'users.getMe'], ['PATCH', '/api/users/me', 'users.updateMe'], ['GET', '/api/admin/users', 'users.listUsers'],
  ['POST', '/api/payments/methods', 'payments.createMethod'], ['DELETE', '/api/payments/methods/pm_1', 'payments.deleteMethod'],
  ['DELETE', '/api/payments/methods', 405], ['GET', '/oauth2/authorize', 'identity.oauth2'],
  ['POST', '/oauth2/token', 'identity.oauth2'], ['GET', '/.well-known/openid-configuration', 'identity.discovery'],
  ['GET', '/interaction/abc/login', 'identity.interaction'],
  ['DELETE', '/api/orders/1', 405], ['GET', '/api/orders/1/2', 0], ['GET', '/internal/x', 0], ['GET', '/oauth2', 0], ['GET', '/api', 0],
]
for (const [method, path, expected] of cases) {
  test(`${method} ${path} → ${expected || 'no route'}`, () => {
    const match = table.match(method, path === '/' ? [] : seg(path))
    if (expected === 0) assert.equal(match, undefined)
    else if (expected === 405) assert.ok(match && 'allowed' in match)
    else assert.equal(match && 'route' in match ? match.route.id : undefined, expected)
  })
}

test('path parameters are decoded', () => {
  const match = table.match('GET', seg('/api/orders/a%20b'))
  assert.ok(match && 'route' in match)
  assert.deepEqual(match.params, { id: 'a b' })
})

test('the demo table strips /api: /api/orders/123 goes to orders /orders/123', () => {
  const match = table.match('GET', seg('/api/orders/123'))
  assert.ok(match && 'route' in match)
  assert.equal(match.route.upstream, 'orders')
  assert.equal(match.route.stripPrefix, '/api')
})

const bad: Array<[string, unknown[], RegExp]> = [
  ['a star in the middle', [{ id: 'a', path: '/a/*/b', methods: ['GET'], upstream: 'x' }], /may only end/],
  ['an unknown key', [{ id: 'a', path: '/a', methods: ['GET'], upstream: 'x', secret: 1 }], /unknown key/],
  ['a bad CIDR', [{ id: 'a', path: '/a', methods: ['GET'], upstream: 'x', ipFilter: { allow: ['10.0.0.0/99'] } }], /prefix/],
  ['an invalid JSON Schema', [{ id: 'a', path: '/a', methods: ['GET'], upstream: 'x', body: { type: 'nonsense' } }], /JSON Schema/],
  ['a duplicate id', [{ id: 'a', path: '/a', methods: ['GET'], upstream: 'x' }, { id: 'a', path: '/b', methods: ['GET'], upstream: 'x' }], /duplicate/],
  ['a bad method', [{ id: 'a', path: '/a', methods: ['TRACE'], upstream: 'x' }], /routes\/0\/methods/],
]
for (const [name, routes, message] of bad) {
  test(`refuses a table with ${name}`, () => assert.throws(() => compileRoutes(routes), message))
}
