import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { Agent } from 'undici'
import { headerRecord, sendUpstream } from '../src/upstream-request.ts'

async function withUpstream(handle: (req: IncomingMessage, res: ServerResponse) => void, run: (origin: string, agent: Agent) => Promise<void>) {
  const server = createServer(handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const agent = new Agent()
  try {
    await run(`http://127.0.0.1:${(server.address() as { port: number }).port}`, agent)
  } finally {
    await agent.destroy()
    server.closeAllConnections()
    server.close()
  }
}

async function drain(body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

test('raw header pairs become lower-cased names; repeated ones (Set-Cookie) stay separate', () => {
  const raw = ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'X-A', 'x'].map((s) => Buffer.from(s))
  assert.deepEqual(headerRecord(raw), { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'x-a': 'x' })
})

test('a small answer of known length arrives whole, as one Buffer', async () => {
  await withUpstream((_req, res) => res.writeHead(201, { 'content-type': 'application/json', 'content-length': '11' }).end('{"ok":true}'), async (origin, agent) => {
    const answer = await sendUpstream(agent, { origin, path: '/x', method: 'GET' }, 1024)
    assert.equal(answer.statusCode, 201)
    assert.equal(answer.headers['content-type'], 'application/json')
    assert.ok(Buffer.isBuffer(answer.body))
    assert.equal(answer.body.toString(), '{"ok":true}')
  })
})

test('a large answer, or one without a length, streams with every byte in order', async () => {
  const big = Buffer.alloc(3 * 1024 * 1024, 7)
  await withUpstream((req, res) => {
    if (req.url === '/chunked') {
      res.writeHead(200)
      res.write('part-1;')
      setTimeout(() => res.end('part-2'), 20)
    } else res.writeHead(200, { 'content-length': String(big.length) }).end(big)
  }, async (origin, agent) => {
    const large = await sendUpstream(agent, { origin, path: '/big', method: 'GET' }, 1024)
    assert.ok(large.body instanceof Readable)
    assert.deepEqual(await drain(large.body), big)
    const chunked = await sendUpstream(agent, { origin, path: '/chunked', method: 'GET' }, 1024)
    assert.ok(chunked.body instanceof Readable)
    assert.equal((await drain(chunked.body)).toString(), 'part-1;part-2')
  })
})

test('an upstream that dies before answering rejects with undici’s error code; one that dies mid-stream errors the stream', async () => {
  await withUpstream((req, res) => {
    if (req.url === '/reset') return req.socket.destroy()
    res.writeHead(200)
    res.write('partial')
    setTimeout(() => res.socket?.destroy(), 20)
  }, async (origin, agent) => {
    await assert.rejects(sendUpstream(agent, { origin, path: '/reset', method: 'GET' }, 1024), (error: { code?: string }) => typeof error.code === 'string' && error.code.startsWith('UND_ERR'))
    const cut = await sendUpstream(agent, { origin, path: '/cut', method: 'GET' }, 1024)
    await assert.rejects(drain(cut.body))
  })
})

test('a streamed answer its reader abandons is aborted upstream, so the connection is not held', async () => {
  const big = Buffer.alloc(8 * 1024 * 1024, 1)
  let closedEarly = false
  const server = createServer((req, res) => {
    if (req.url === '/small') return res.writeHead(200, { 'content-length': '2' }).end('ok')
    res.on('close', () => { if (!res.writableFinished) closedEarly = true })
    res.writeHead(200, { 'content-length': String(big.length) }).end(big)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const agent = new Agent({ connections: 1 }) // one connection: a held one would block the next request
  try {
    const answer = await sendUpstream(agent, { origin, path: '/big', method: 'GET' }, 1024)
    const body = answer.body as Readable
    await new Promise((resolve) => body.once('data', resolve))
    body.destroy()
    const next = await Promise.race([
      sendUpstream(agent, { origin, path: '/small', method: 'GET' }, 1024),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the connection is still held')), 3000)),
    ])
    assert.equal((next.body as Buffer).toString(), 'ok')
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(closedEarly, true, 'the upstream saw the request cut off')
  } finally {
    await agent.destroy()
    server.closeAllConnections()
    server.close()
  }
})

test('through a replicated peer\'s dispatcher (an interceptor), two Set-Cookie headers reach the client as two', async () => {
  const { createReplicaSet, replicaInterceptor } = await import('@bulwark/core/base')
  await withUpstream((_req, res) => {
    res.setHeader('set-cookie', ['_interaction=abc; path=/interaction/abc', '_interaction.sig=def; path=/interaction/abc'])
    res.end('ok')
  }, async (origin, agent) => {
    const replicas = agent.compose(replicaInterceptor(createReplicaSet([origin, 'http://127.0.0.1:9'])))
    const answer = await sendUpstream(replicas, { origin, path: '/', method: 'GET' }, 1024)
    assert.deepEqual(answer.headers['set-cookie'], ['_interaction=abc; path=/interaction/abc', '_interaction.sig=def; path=/interaction/abc'])
  })
})
