import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import {
  attachMtls, createMtlsAgent, createRevocationSet, createServiceServer, createSilentLogger, expectSpiffeId, mtlsServerOptions,
} from '@bulwark/core'
import { createTestCa } from '@bulwark/testkit'

async function startEcho(ca: Awaited<ReturnType<typeof createTestCa>>, revocation = createRevocationSet()) {
  const source = await ca.source('echo')
  const app = createServiceServer({ name: 'echo', log: createSilentLogger(), https: mtlsServerOptions(source) })
  attachMtls(app.server as never, source, { revocation })
  app.get('/whoami', async (req) => ({ peer: req.peer?.spiffeId ?? null }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  return { app, source, url: `https://127.0.0.1:${port}`, revocation }
}

test('hands the verified client SPIFFE ID to handlers', async (t) => {
  const ca = await createTestCa()
  const server = await startEcho(ca)
  t.after(() => server.app.close())
  const agent = createMtlsAgent(await ca.source('orders'), { verifyPeer: expectSpiffeId('spiffe://bulwark.test/svc/echo') })
  t.after(() => agent.close())
  const res = await request(`${server.url}/whoami`, { dispatcher: agent })
  assert.equal(res.statusCode, 200)
  assert.deepEqual(await res.body.json(), { peer: 'spiffe://bulwark.test/svc/orders' })
})

test('refuses a server whose SPIFFE ID is not the expected one', async (t) => {
  const ca = await createTestCa()
  const server = await startEcho(ca)
  t.after(() => server.app.close())
  const agent = createMtlsAgent(await ca.source('orders'), { verifyPeer: expectSpiffeId('spiffe://bulwark.test/svc/payments') })
  t.after(() => agent.close())
  await assert.rejects(request(`${server.url}/whoami`, { dispatcher: agent }), /not the expected peer/)
})

test('rejects clients from a foreign CA, without a SPIFFE ID, expired or revoked', async (t) => {
  const ca = await createTestCa()
  const foreign = await createTestCa({ commonName: 'Evil Root' })
  const server = await startEcho(ca)
  t.after(() => server.app.close())
  const verifyPeer = expectSpiffeId('spiffe://bulwark.test/svc/echo')
  const cases = {
    foreign: await foreign.source('orders'),
    noSpiffeId: await ca.source('orders', { uris: [] }),
    twoSpiffeIds: await ca.source('orders', { uris: ['spiffe://bulwark.test/svc/a', 'spiffe://bulwark.test/svc/b'] }),
    expired: await ca.source('orders', { ttlSeconds: -10, notBefore: new Date(Date.now() - 3600_000) }),
  }
  for (const [name, source] of Object.entries(cases)) {
    // The foreign client still has to trust our server to get as far as presenting its certificate.
    if (name === 'foreign') source.update({ ...source.current(), bundlePem: ca.rootPem })
    const agent = createMtlsAgent(source, { verifyPeer })
    await assert.rejects(request(`${server.url}/whoami`, { dispatcher: agent }), Error, `${name} must be refused`)
    await agent.close()
  }
  const revokedSource = await ca.source('orders')
  server.revocation.replace([revokedSource.current().serial], [])
  const agent = createMtlsAgent(revokedSource, { verifyPeer })
  await assert.rejects(request(`${server.url}/whoami`, { dispatcher: agent }))
  await agent.close()
})

test('rotates server and client certificates without failing in-flight traffic', async (t) => {
  const ca = await createTestCa()
  const server = await startEcho(ca)
  t.after(() => server.app.close())
  const client = await ca.source('orders')
  const agent = createMtlsAgent(client, { verifyPeer: expectSpiffeId('spiffe://bulwark.test/svc/echo') })
  t.after(() => agent.close())
  const serialsSeen = new Set<string>()
  let failures = 0
  let done = 0
  const traffic = (async () => {
    for (let i = 0; i < 200; i++) {
      try {
        const res = await request(`${server.url}/whoami`, { dispatcher: agent })
        await res.body.json()
        if (res.statusCode !== 200) failures++
      } catch { failures++ }
      done++
    }
  })()
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 10))
    server.source.update(await ca.issue('echo'))
    client.update(await ca.issue('orders'))
    serialsSeen.add(server.source.current().serial)
  }
  await traffic
  assert.equal(done, 200)
  assert.equal(failures, 0)
  assert.equal(serialsSeen.size, 3)
})

test('an internal listener refuses TLS 1.2, even from a client with a valid SVID (TLS 1.3 only inside)', async (t) => {
  const ca = await createTestCa()
  const server = await startEcho(ca)
  t.after(() => server.app.close())
  const client = (await ca.source('orders')).current()
  const { connect } = await import('node:tls')
  const attempt = (maxVersion: 'TLSv1.2' | 'TLSv1.3') => new Promise<string>((resolve) => {
    const socket = connect({
      host: '127.0.0.1', port: Number(new URL(server.url).port), servername: 'echo', maxVersion, minVersion: 'TLSv1.2',
      key: client.keyPem, cert: `${client.certPem.trim()}\n${client.chainPem.trim()}\n`, ca: client.bundlePem, rejectUnauthorized: false,
    })
    socket.once('secureConnect', () => { resolve(`connected ${socket.getProtocol()}`); socket.destroy() })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(`refused ${error.code ?? error.message}`))
  })
  assert.equal(await attempt('TLSv1.3'), 'connected TLSv1.3')
  assert.match(await attempt('TLSv1.2'), /^refused /)
})
