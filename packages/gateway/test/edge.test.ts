// The edge listener on its own: a user-provided certificate, the plain-HTTP
// redirect listener, and refusal of requests before any stage runs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { once } from 'node:events'
import { request } from 'node:http'
import { createMemoryAuditSink, createMetrics, createSilentLogger } from '@bulwark/core'
import { createTestCa, tempDir } from '@bulwark/testkit'
import { createGateway } from '../src/index.ts'

test('serves a user-provided certificate and redirects plain HTTP to HTTPS', async () => {
  using dir = tempDir()
  const ca = await createTestCa()
  const edge = await ca.issue('edge-cert', { dnsNames: ['localhost'] })
  writeFileSync(join(dir.path, 'edge.crt'), `${edge.certPem}\n${edge.chainPem}`)
  writeFileSync(join(dir.path, 'edge.key'), edge.keyPem, { mode: 0o600 })
  const gateway = createGateway({
    tls: { certFile: join(dir.path, 'edge.crt'), keyFile: join(dir.path, 'edge.key') }, httpRedirectPort: 0,
    feeds: { revocations: false, blocks: false },
  }, {
    log: createSilentLogger(), metrics: createMetrics('gateway'), audit: createMemoryAuditSink(), publicUrl: 'https://localhost:8443',
    authorizer: { authorize: () => ({ decision: 'deny', reasons: [], errors: [], policyVersion: '0' }) },
    peer: () => { throw new Error('no peers here') },
  })
  await gateway.app.listen({ host: '127.0.0.1', port: 0 })
  try {
    const port = (gateway.app.server.address() as { port: number }).port
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.rootPem })
    await once(socket, 'secureConnect')
    assert.equal(socket.getPeerCertificate().serialNumber.toUpperCase(), edge.serial)
    socket.destroy()

    const answer = await new Promise<{ status: number; location?: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port: gateway.redirectPort, path: '/api/orders?x=1' }, (res) => {
        res.resume()
        resolve({ status: res.statusCode!, location: res.headers.location })
      }).on('error', reject).end()
    })
    assert.equal(answer.status, 308)
    assert.equal(answer.location, 'https://localhost:8443/api/orders?x=1')
  } finally {
    await gateway.close()
  }
})

test('drops a slow client that never finishes its headers (408)', async () => {
  const ca = await createTestCa()
  const svid = await ca.source('gateway', { dnsNames: ['localhost'] })
  const gateway = createGateway({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 }, feeds: { revocations: false, blocks: false } }, {
    log: createSilentLogger(), metrics: createMetrics('gateway'), audit: createMemoryAuditSink(), publicUrl: 'https://localhost:8443', svid,
    authorizer: { authorize: () => ({ decision: 'deny', reasons: [], errors: [], policyVersion: '0' }) },
    peer: () => { throw new Error('no peers here') },
  })
  await gateway.app.listen({ host: '127.0.0.1', port: 0 })
  try {
    const port = (gateway.app.server.address() as { port: number }).port
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.rootPem, ALPNProtocols: ['http/1.1'] })
    await once(socket, 'secureConnect')
    socket.write('GET /api/catalog/products HTTP/1.1\r\nHost: localhost\r\nX-Slow: ')
    let text = ''
    socket.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
    const started = Date.now()
    await once(socket, 'close')
    assert.ok(Date.now() - started < 5000, 'closed within the checking interval')
    assert.ok(text === '' || /^HTTP\/1.1 408 /.test(text), text.slice(0, 100))
  } finally {
    await gateway.close()
  }
})
