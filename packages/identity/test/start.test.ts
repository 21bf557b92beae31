import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { createHealth, createManualClock, createMemoryAuditSink, createMetrics, createMtlsAgent, createRevocationSet, createSilentLogger, expectSpiffeId, homePaths, mtlsServerOptions } from '@bulwark/core'
import { createTestCa, freePort, tempDir } from '@bulwark/testkit'
import type { ComponentRuntime } from '@bulwark/sdk/runtime'
import { readMasterKey, startIdentity } from '../src/start.ts'

test('the component starts from a runtime: config section with the platform frame, demo seed under the home, a serving app', async () => {
  const ca = await createTestCa({ trustDomain: 'bulwark.test' })
  using dir = tempDir('bulwark-identity-start-')
  const paths = homePaths(dir.path)
  mkdirSync(`${dir.path}/keys`, { recursive: true })
  writeFileSync(paths.masterKey, randomBytes(32).toString('base64'), { mode: 0o600 })
  const svid = await ca.source('identity')
  const port = await freePort()
  const rt = {
    bootstrap: { type: 'bootstrap', component: 'identity', home: dir.path, trustDomain: ca.trustDomain, spiffeId: svid.current().spiffeId,
      listen: { host: '127.0.0.1', port }, caUrl: 'https://127.0.0.1:1', publicUrl: 'https://localhost:8443', svidTtlSeconds: 3600, peers: {}, config: {}, demo: true },
    config: { port: 8605, enabled: true, argon2: { memoryKiB: 1024, iterations: 1, parallelism: 1 } },
    demo: true, log: createSilentLogger(), metrics: createMetrics('identity'), health: createHealth(), clock: createManualClock(Date.now()),
    svid, revocation: createRevocationSet(), audit: createMemoryAuditSink('identity'), paths,
    peer: () => { throw new Error('no peers in this test') }, httpsOptions: () => mtlsServerOptions(svid),
  } as unknown as ComponentRuntime
  const { app, close } = await startIdentity(rt)
  try {
    const file = JSON.parse(readFileSync(paths.demoCredentials, 'utf8'))
    assert.equal(statSync(paths.demoCredentials).mode & 0o777, 0o600)
    assert.equal(file.users.length, 3)
    await app.listen({ host: '127.0.0.1', port })
    const agent = createMtlsAgent(await ca.source('gateway'), { verifyPeer: expectSpiffeId('spiffe://bulwark.test/svc/identity') })
    const response = await agent.request({ origin: `https://127.0.0.1:${port}`, path: '/.well-known/openid-configuration', method: 'GET' })
    const meta = await response.body.json() as { issuer: string; mtls_endpoint_aliases: { token_endpoint: string } }
    assert.equal(meta.issuer, 'https://localhost:8443')
    assert.equal(meta.mtls_endpoint_aliases.token_endpoint, `https://127.0.0.1:${port}/oauth2/token`)
    const metrics = await (await agent.request({ origin: `https://127.0.0.1:${port}`, path: '/metrics', method: 'GET' })).body.text()
    assert.match(metrics, /bulwark_identity_events_total\{[^}]*type="demo.seeded"/)
    await agent.close()
    await assert.rejects(startIdentity({ ...rt, config: { port: 1, surprise: true } } as ComponentRuntime), /surprise/)
  } finally {
    await close?.()
    await app.close()
  }
})

test('the master key is refused unless only its owner can read it, and when it is short', () => {
  using dir = tempDir('bulwark-identity-key-')
  const path = `${dir.path}/master.key`
  writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o644 })
  assert.throws(() => readMasterKey(path), /mode 644; it must be 600/)
  chmodSync(path, 0o600)
  assert.equal(readMasterKey(path).length, 32)
  writeFileSync(path, randomBytes(16).toString('base64'), { mode: 0o600 })
  assert.throws(() => readMasterKey(path), /shorter than 32 bytes/)
})
