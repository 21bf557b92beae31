import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createWorld, type World } from './helpers.ts'

let w: World
before(async () => { w = await createWorld() })
after(async () => { await w?.close() })

test('routes a valid token to the upstream with an exchanged token', async () => {
  const token = await w.token()
  const res = await w.fetch('/api/orders/o1', { headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json.service, 'orders')
  assert.equal(res.json.url, '/orders/o1')
  assert.notEqual(res.json.authorization, `Bearer ${token}`)
})
