import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, request } from 'undici'
import { createMtlsAgent, createSvidSource, expectSpiffeId, serviceSpiffeId, type Svid } from '@bulwark/core'
import { createTestCa } from '@bulwark/testkit'
import { createKeyAndCsr, obtainSvid, renewSvid, SvidRequestError } from '@bulwark/sdk/svid'
import { loadIntermediate } from '../src/index.ts'
import { createLeafCertificate, exportPrivateKeyPem, generateKeyPair, newSerial } from '../src/x509.ts'
import { CA_ID, eventsOf, startHarness, TD, type Harness } from './helpers.ts'

let h: Harness
before(async () => { h = await startHarness() })
after(async () => { await h.close() })

const ROUTES: Array<[string, string, unknown?]> = [
  ['GET', '/v1/bundle'], ['GET', '/v1/bundle?version=1&wait=5'],
  ['POST', '/v1/svid/renew', { csr: 'x' }],
  ['POST', '/v1/join-tokens', { spiffeId: serviceSpiffeId(TD, 'orders') }],
  ['GET', '/v1/certs'], ['POST', '/v1/certs/0A/revoke'], ['POST', '/v1/certs/issue', { service: 'orders', csr: 'x' }],
  ['POST', '/v1/quarantine', { service: 'orders' }], ['POST', '/v1/release', { service: 'orders' }], ['POST', '/v1/rotate'],
  ['GET', '/healthz'], ['GET', '/readyz'], ['GET', '/no/such/route'], ['GET', '/v1/svid/join'], ['POST', '/v1/svid/join/'],
]

async function join(name: string): Promise<Svid> {
  const spiffeId = serviceSpiffeId(TD, name)
  return await obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: await h.joinToken(spiffeId), spiffeId })
}

async function expiredSvid(name: string): Promise<Svid> {
  const signer = await loadIntermediate(h.paths)
  const keys = await generateKeyPair()
  const spiffeId = serviceSpiffeId(TD, name)
  const cert = await createLeafCertificate({
    serial: newSerial(), publicKey: keys.publicKey, issuer: signer, spiffeId,
    notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000),
  })
  return {
    spiffeId, keyPem: await exportPrivateKeyPem(keys.privateKey), certPem: cert.toString('pem'), chainPem: signer.certPem,
    bundlePem: h.rootPem, notAfter: cert.notAfter.getTime(), serial: cert.serialNumber.toUpperCase(),
  }
}

test('every route but join answers 401 to a caller without a client certificate', async () => {
  const anonymous = new Agent({ connect: { ca: h.rootPem, checkServerIdentity: () => undefined } })
  try {
    for (const [method, path, body] of ROUTES) {
      const res = await h.call(anonymous, method, path, body)
      assert.equal(res.status, 401, `${method} ${path}`)
      assert.equal(res.body.code, 'BW_CA_PEER_REJECTED', `${method} ${path}`)
    }
  } finally {
    await anonymous.close()
  }
  const rejected = eventsOf(h, 'peer.rejected')
  assert.ok(rejected.length >= ROUTES.length)
  assert.equal(rejected.at(-1)?.outcome, 'denied')
})

test('certificates from a foreign CA, expired, or without a SPIFFE ID get 401 everywhere', async () => {
  const foreign = await createTestCa({ trustDomain: TD })
  const callers: Array<[string, Svid]> = [
    ['foreign CA', { ...(await foreign.issue('orders')), bundlePem: h.rootPem }],
    ['expired', await expiredSvid('orders')],
    ['foreign CA operator', { ...(await foreign.issue(`spiffe://${TD}/operator/admin`)), bundlePem: h.rootPem }],
  ]
  for (const [label, svid] of callers) {
    const agent = h.agentFor(svid)
    for (const [method, path, body] of ROUTES.slice(0, 6)) {
      const res = await h.call(agent, method, path, body).catch((error: Error) => ({ status: 0, body: { code: error.message } }))
      // A TLS 1.3 server may also abort the handshake; either way nothing is served.
      assert.ok(res.status === 401 || res.status === 0, `${label}: ${method} ${path}: ${res.status}`)
      if (res.status === 401) assert.equal(res.body.code, 'BW_CA_PEER_REJECTED')
    }
  }
})

test('a service certificate may not call operator routes', async () => {
  const svid = await join('orders')
  const agent = h.agentFor(svid)
  for (const [method, path, body] of [['POST', '/v1/join-tokens', { spiffeId: serviceSpiffeId(TD, 'payments') }], ['GET', '/v1/certs'], ['POST', '/v1/quarantine', { service: 'payments' }], ['POST', '/v1/rotate']] as const) {
    const res = await h.call(agent, method, path, body)
    assert.equal(res.status, 403, `${method} ${path}`)
    assert.equal(res.body.code, 'BW_PEER_IDENTITY')
  }
  assert.equal(eventsOf(h, 'authz.denied').at(-1)?.actor.spiffeId, svid.spiffeId)
  assert.equal((await h.call(agent, 'GET', '/v1/bundle')).status, 200, 'the bundle is open to any verified peer')
  assert.equal((await h.call(agent, 'GET', '/healthz')).status, 200, 'health is open to any verified peer')
  const ready = await h.op('GET', '/readyz')
  assert.equal(ready.status, 200)
  assert.equal(ready.body.checks.intermediate, true)
})

test('renewal over mTLS gives the same identity a new certificate and key', async () => {
  const svid = await join('catalog')
  const renewed = await renewSvid({ caUrl: h.url, source: createSvidSource(svid) })
  assert.equal(renewed.spiffeId, svid.spiffeId)
  assert.notEqual(renewed.serial, svid.serial)
  assert.notEqual(renewed.keyPem, svid.keyPem)
  const event = eventsOf(h, 'cert.renewed').at(-1)
  assert.equal(event?.details?.previousSerial, svid.serial)
  assert.equal(event?.details?.serial, renewed.serial)
  assert.equal(event?.actor.spiffeId, svid.spiffeId)
})

test('renewal for another identity is refused', async () => {
  const svid = await join('users')
  const agent = createMtlsAgent(createSvidSource(svid), { verifyPeer: expectSpiffeId(CA_ID) })
  try {
    const { csrPem } = await createKeyAndCsr({ spiffeId: serviceSpiffeId(TD, 'payments') })
    const res = await h.call(agent, 'POST', '/v1/svid/renew', { csr: csrPem })
    assert.equal(res.status, 403)
    assert.equal(res.body.code, 'BW_CA_CSR_ID_MISMATCH')
    assert.equal(eventsOf(h, 'cert.rejected').at(-1)?.reason, 'BW_CA_CSR_ID_MISMATCH')
  } finally {
    await agent.close()
  }
})

test('renewal with a revoked or quarantined certificate is refused; release restores it', async () => {
  const revoked = await join('orders')
  const res = await h.op('POST', `/v1/certs/${revoked.serial}/revoke`, { reason: 'key compromise' })
  assert.equal(res.status, 200)
  assert.equal(res.body.revoked, true)
  assert.equal(eventsOf(h, 'cert.revoked').at(-1)?.details?.serial, revoked.serial)
  await assert.rejects(renewSvid({ caUrl: h.url, source: createSvidSource(revoked) }), (e: SvidRequestError) => e.status === 401)
  assert.match(String(eventsOf(h, 'peer.rejected').at(-1)?.details?.why), /revoked/)
  assert.equal((await h.op('POST', '/v1/certs/FFFF/revoke')).status, 404)

  const payments = await join('payments')
  assert.equal((await h.op('POST', '/v1/quarantine', { service: 'payments' })).status, 200)
  assert.equal(eventsOf(h, 'service.quarantined').at(-1)?.resource, payments.spiffeId)
  await assert.rejects(renewSvid({ caUrl: h.url, source: createSvidSource(payments) }), (e: SvidRequestError) => e.status === 401)
  const token = await h.joinToken(payments.spiffeId)
  await assert.rejects(obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: token, spiffeId: payments.spiffeId }),
    (e: SvidRequestError) => e.code === 'BW_CA_QUARANTINED')
  assert.equal((await h.op('POST', '/v1/release', { service: 'payments' })).status, 200)
  assert.equal(eventsOf(h, 'service.released').at(-1)?.resource, payments.spiffeId)
  const renewed = await renewSvid({ caUrl: h.url, source: createSvidSource(payments) })
  assert.equal(renewed.spiffeId, payments.spiffeId)
})

test('the join endpoint works without a client certificate over a plain TLS client', async () => {
  const token = await h.joinToken(serviceSpiffeId(TD, 'catalog'))
  const { csrPem } = await createKeyAndCsr({ spiffeId: serviceSpiffeId(TD, 'catalog') })
  const anonymous = new Agent({ connect: { ca: h.rootPem, checkServerIdentity: () => undefined } })
  try {
    const res = await request(`${h.url}/v1/svid/join`, { method: 'POST', dispatcher: anonymous, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ joinToken: token, csr: csrPem }) })
    assert.equal(res.statusCode, 200)
    const body = await res.body.json() as { spiffeId: string; chain: string[]; bundle: string[]; notAfter: string }
    assert.equal(body.spiffeId, serviceSpiffeId(TD, 'catalog'))
    assert.equal(body.chain.length, 1)
    assert.equal(body.bundle[0], h.rootPem)
    assert.ok(Date.parse(body.notAfter) > Date.now())
  } finally {
    await anonymous.close()
  }
})
