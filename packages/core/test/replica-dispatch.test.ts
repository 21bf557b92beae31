// Calls to a component running as replicas (core's replica-dispatch): spread
// over every replica, failed over when one is down, and a POST whose replica
// died after it was sent is not replayed at another.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent, request } from 'undici'
import { createReplicaSet, replicaInterceptor, shouldFailOver } from '../src/replica-dispatch.ts'

async function replica(name: string, onRequest?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) {
  const seen: string[] = []
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    if (onRequest) return onRequest(req, res)
    res.end(name)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { url, seen, server, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }) }
}

test('replica calls: spread round robin over every replica, and all answered by the survivor once one is gone', async () => {
  const a = await replica('a')
  const b = await replica('b')
  const agent = new Agent({ keepAliveTimeout: 10 }).compose(replicaInterceptor(createReplicaSet([a.url, b.url])))
  try {
    const answers: string[] = []
    for (let i = 0; i < 6; i++) answers.push(await (await request(`${a.url}/x`, { dispatcher: agent })).body.text())
    assert.deepEqual(answers.sort(), ['a', 'a', 'a', 'b', 'b', 'b'], 'addressed to replica a, spread over both')
    await a.close()
    for (let i = 0; i < 6; i++) {
      const method = i % 2 === 0 ? 'GET' : 'POST'
      const res = await request(`${a.url}/after`, { dispatcher: agent, method, body: method === 'POST' ? '{"n":1}' : undefined })
      assert.equal(res.statusCode, 200)
      assert.equal(await res.body.text(), 'b', `${method} #${i} answered by the survivor`)
    }
    assert.equal(b.seen.filter((s) => s.endsWith('/after')).length, 6)
  } finally {
    await agent.close()
    await b.close()
  }
})

test('replica calls: a POST lost when its replica dies is not replayed at another; a GET is', async () => {
  let dieNext = true
  const dying = await replica('dying', (_req, res) => {
    if (dieNext) res.socket?.destroy() // the replica "dies" after it received the request
    else res.end('dying')
  })
  const other = await replica('other')
  const agent = new Agent().compose(replicaInterceptor(createReplicaSet([dying.url, other.url])))
  try {
    await assert.rejects(request(`${dying.url}/charge`, { dispatcher: agent, method: 'POST', body: '{}' }), (error: { code?: string }) => shouldFailOver(error, 'GET') && !shouldFailOver(error, 'POST'))
    assert.equal(other.seen.length, 0, 'the POST was not sent again elsewhere')
    // The same loss on a GET goes to the other replica (round robin starts there next; force the dying one first).
    const set = createReplicaSet([dying.url, other.url])
    const fresh = new Agent().compose(replicaInterceptor(set))
    const res = await request(`${dying.url}/read`, { dispatcher: fresh })
    assert.equal(await res.body.text(), 'other')
    assert.deepEqual(dying.seen.slice(-1), ['GET /read'], 'tried at the dying replica first')
    await fresh.close()
  } finally {
    dieNext = false
    await agent.close()
    await dying.close()
    await other.close()
  }
})

test('replica calls: requests to other origins pass untouched', async () => {
  const a = await replica('a')
  const b = await replica('b')
  const elsewhere = await replica('elsewhere')
  const agent = new Agent().compose(replicaInterceptor(createReplicaSet([a.url, b.url])))
  try {
    for (let i = 0; i < 3; i++) assert.equal(await (await request(`${elsewhere.url}/`, { dispatcher: agent })).body.text(), 'elsewhere')
  } finally {
    await agent.close()
    await Promise.all([a.close(), b.close(), elsewhere.close()])
  }
})
