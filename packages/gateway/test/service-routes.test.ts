// Routes to the user's own services in the config shape {prefix, service, auth, …}.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compileRoutes } from '../src/routes.ts'

const notes = { prefix: '/api/notes', service: 'notes', auth: 'required' }
const services = ['identity', 'catalog', 'notes']

function matchOf(table: ReturnType<typeof compileRoutes>, method: string, path: string) {
  const found = table.match(method, path.slice(1).split('/'))
  return found && 'route' in found ? found.route : undefined
}

test('a service route serves its prefix and everything below it, every method, added to the demo table', () => {
  const table = compileRoutes([notes, { prefix: '/public', service: 'notes', auth: 'none' }, { prefix: '/api/feed', service: 'notes', auth: 'optional', scopes: [] }], { services })
  for (const [method, path] of [['GET', '/api/notes'], ['GET', '/api/notes/n1'], ['POST', '/api/notes'], ['DELETE', '/api/notes/a/b']] as const) {
    const route = matchOf(table, method, path)
    assert.equal(route?.upstream, 'notes', `${method} ${path}`)
    assert.equal(route?.id, 'notes.api.notes')
    assert.equal(route?.stripPrefix, '/api', 'the service sees /notes/…, as the demo shop sees /catalog/…')
    assert.equal(route?.public, false)
    assert.equal(route?.translate, true)
  }
  assert.equal(matchOf(table, 'GET', '/api/notesx'), undefined)
  assert.equal(matchOf(table, 'GET', '/public/x')?.public, true)
  assert.equal(matchOf(table, 'GET', '/public/x')?.stripPrefix, undefined)
  assert.equal(matchOf(table, 'GET', '/api/feed')?.optionalAuth, true)
  assert.equal(matchOf(table, 'GET', '/api/catalog/products')?.upstream, 'catalog', 'the demo table is still there')
})

test('a service route carries its scopes, Cedar action, body schema and rate limit into the table', () => {
  const table = compileRoutes([{ ...notes, scopes: ['notes:write'], action: 'notes.write', schema: { type: 'object', required: ['text'] }, rateLimit: { rate: 5, burst: 10 } }], { services })
  const route = matchOf(table, 'POST', '/api/notes')!
  assert.deepEqual(route.scopes, ['notes:write'])
  assert.equal(route.action, 'notes.write')
  assert.equal(route.validateBody?.({}), false)
  assert.equal(route.validateBody?.({ text: 'x' }), true)
  assert.deepEqual(route.rateLimit, { rate: 5, burst: 10 })
})

const refused: Array<[string, unknown[], RegExp]> = [
  ['an unknown service', [{ ...notes, service: 'nope' }], /routes\/0\/service: route `\/api\/notes`: unknown service `nope`/],
  ['a prefix into /internal/', [{ ...notes, prefix: '/internal/x' }], /routes\/0\/prefix: route `\/internal\/x`: `\/internal\/` routes are never reachable/],
  ['a prefix that becomes /internal/ upstream', [{ ...notes, prefix: '/api/internal' }], /routes\/0\/prefix: route `\/api\/internal`: `\/internal\/`/],
  ['a prefix overlapping a demo route', [{ ...notes, prefix: '/api/catalog' }], /routes\/0\/prefix: route `\/api\/catalog` overlaps route `catalog.listProducts`/],
  ['a prefix under a wildcard route', [{ ...notes, prefix: '/oauth2/mine' }], /route `\/oauth2\/mine` overlaps route `identity.oauth2`/],
  ['a prefix covering other routes', [{ ...notes, prefix: '/api' }], /route `\/api` overlaps route/],
  ['two overlapping service routes', [notes, { ...notes, prefix: '/api/notes/archive' }], /routes\/1\/prefix: route `\/api\/notes\/archive` overlaps route `\/api\/notes`/],
  ['an unknown auth mode', [{ ...notes, auth: 'maybe' }], /routes\/0\/auth/],
  ['an unknown key', [{ ...notes, upstream: 'x' }], /routes\/0\/upstream: unknown key/],
]
for (const [name, routes, message] of refused) {
  test(`refuses a service route with ${name}, naming the entry`, () => assert.throws(() => compileRoutes(routes, { services }), message))
}
