import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { Agent, request } from 'undici'
import { createSvidSource, serviceSpiffeId, spiffeIdOfCertificate } from '@bulwark/core'
import { createKeyAndCsr, obtainSvid, renewSvid, SvidRequestError } from '@bulwark/sdk/svid'
import { startHarness, eventsOf, TD, type Harness } from './helpers.ts'
import { EC_ALG, generateKeyPair, x509 } from '../src/x509.ts'

let h: Harness
let anonymous: Agent
before(async () => {
  h = await startHarness({ svidTtlSeconds: 600 })
  anonymous = new Agent({ connect: { ca: h.rootPem, rejectUnauthorized: true, checkServerIdentity: () => undefined } })
})
after(async () => { await anonymous.close(); await h.close() })

const orders = serviceSpiffeId(TD, 'orders')

async function rawJoin(joinToken: string, csr: string) {
  const res = await request(`${h.url}/v1/svid/join`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ joinToken, csr }),
    dispatcher: anonymous,
  })
  return { status: res.statusCode, body: await res.body.json() as any }
}

test('a join token and a CSR yield an SVID for the bound identity, chained to the root', async () => {
  const token = await h.joinToken(orders)
  const svid = await obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: token, spiffeId: orders })
  const leaf = new X509Certificate(svid.certPem)
  assert.equal(spiffeIdOfCertificate(leaf), orders)
  assert.ok(leaf.verify(new X509Certificate(svid.chainPem).publicKey))
  assert.equal(leaf.ca, false)
  const lifetime = svid.notAfter - Date.now()
  assert.ok(lifetime > 590_000 && lifetime <= 600_000, `lifetime ${lifetime}`)
  const issued = eventsOf(h, 'cert.issued').find((e) => e.details?.serial === svid.serial)
  assert.equal(issued?.resource, orders)
  assert.equal(issued?.outcome, 'success')
  const created = eventsOf(h, 'join_token.created').at(-1)
  assert.equal(created?.resource, orders)
  assert.ok(!JSON.stringify(h.audit.events).includes(token), 'the token never reaches the audit log')
  const inventory = await h.op('GET', `/v1/certs?spiffeId=${encodeURIComponent(orders)}`)
  assert.equal(inventory.status, 200)
  assert.ok(inventory.body.certs.some((c: { serial: string; via: string }) => c.serial === svid.serial && c.via === 'join'))
})

test('a reused join token is refused with BW_CA_JOIN_TOKEN_REUSED and audited', async () => {
  const token = await h.joinToken(orders)
  await obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: token, spiffeId: orders })
  const before = eventsOf(h, 'cert.issued').length
  await assert.rejects(obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: token, spiffeId: orders }),
    (e: SvidRequestError) => e.status === 401 && e.code === 'BW_CA_JOIN_TOKEN_REUSED')
  assert.equal(eventsOf(h, 'cert.issued').length, before, 'nothing issued')
  assert.equal(eventsOf(h, 'join_token.rejected').at(-1)?.reason, 'BW_CA_JOIN_TOKEN_REUSED')
})

test('an expired join token is refused and stays unused', async () => {
  const token = await h.joinToken(orders, 60)
  h.clock.advance(61_000)
  try {
    await assert.rejects(obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: token, spiffeId: orders }),
      (e: SvidRequestError) => e.status === 401 && e.code === 'BW_CA_JOIN_TOKEN_EXPIRED')
  } finally {
    h.clock.set(Date.now())
  }
  assert.equal(eventsOf(h, 'join_token.rejected').at(-1)?.reason, 'BW_CA_JOIN_TOKEN_EXPIRED')
})

test('an unknown join token is refused without looking at the CSR', async () => {
  const { csrPem } = await createKeyAndCsr({ spiffeId: orders })
  const res = await rawJoin('bwjt_not-a-real-token', csrPem)
  assert.equal(res.status, 401)
  assert.equal(res.body.code, 'BW_CA_JOIN_TOKEN_INVALID')
  assert.equal(eventsOf(h, 'join_token.rejected').at(-1)?.reason, 'BW_CA_JOIN_TOKEN_INVALID')
})

test('a CSR for another identity than the token is refused and the token is not spent', async () => {
  const token = await h.joinToken(orders)
  await assert.rejects(obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: token, spiffeId: serviceSpiffeId(TD, 'payments') }),
    (e: SvidRequestError) => e.status === 403 && e.code === 'BW_CA_CSR_ID_MISMATCH')
  const rejected = eventsOf(h, 'join_token.rejected').at(-1)
  assert.equal(rejected?.reason, 'BW_CA_CSR_ID_MISMATCH')
  assert.equal(rejected?.resource, orders)
  const svid = await obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: token, spiffeId: orders })
  assert.equal(svid.spiffeId, orders)
})

test('a CSR outside the trust domain is refused', async () => {
  const token = await h.joinToken(orders)
  const { csrPem } = await createKeyAndCsr({ spiffeId: 'spiffe://evil.example/svc/orders' })
  const res = await rawJoin(token, csrPem)
  assert.equal(res.status, 400)
  assert.equal(res.body.code, 'BW_CA_CSR_FOREIGN_TRUST_DOMAIN')
  assert.equal(eventsOf(h, 'join_token.rejected').at(-1)?.reason, 'BW_CA_CSR_FOREIGN_TRUST_DOMAIN')
})

test('a CSR whose signature does not verify is refused', async () => {
  const token = await h.joinToken(orders)
  const { csrPem } = await createKeyAndCsr({ spiffeId: orders })
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  der[der.length - 1] = der[der.length - 1]! ^ 0xff
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`
  const res = await rawJoin(token, tampered)
  assert.equal(res.status, 400)
  assert.equal(res.body.code, 'BW_CA_CSR_SIGNATURE')
  const garbage = await rawJoin(token, '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')
  assert.equal(garbage.body.code, 'BW_CA_CSR_INVALID')
  assert.equal(res.body.detail.includes('bwjt_'), false)
})

test('only the gateway may carry DNS/IP SANs, and only allowed names', async () => {
  const gateway = serviceSpiffeId(TD, 'gateway')
  const bad = await h.joinToken(gateway)
  await assert.rejects(obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: bad, spiffeId: gateway, dnsNames: ['evil.example'] }),
    (e: SvidRequestError) => e.code === 'BW_CA_SERVING_NAME_DENIED')
  const svid = await obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: bad, spiffeId: gateway, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] })
  assert.match(new X509Certificate(svid.certPem).subjectAltName ?? '', /DNS:localhost/)
  // Renewal asks for the same names again (Node prints ::1 in full; the CA normalises it).
  const renewed = await renewSvid({ caUrl: h.url, source: createSvidSource(svid) })
  assert.equal(new X509Certificate(renewed.certPem).subjectAltName, new X509Certificate(svid.certPem).subjectAltName)
  const token = await h.joinToken(orders)
  await assert.rejects(obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: token, spiffeId: orders, dnsNames: ['localhost'] }),
    (e: SvidRequestError) => e.code === 'BW_CA_SERVING_NAME_DENIED')
})

test('join tokens are only minted for service identities of the trust domain, never the CA', async () => {
  for (const spiffeId of ['spiffe://other.test/svc/orders', `spiffe://${TD}/operator/admin`, serviceSpiffeId(TD, 'ca'), 'not-a-spiffe-id']) {
    const res = await h.op('POST', '/v1/join-tokens', { spiffeId })
    assert.equal(res.status, 400, spiffeId)
    assert.equal(res.body.code, 'BW_CA_SPIFFE_ID_INVALID')
  }
})

test('obtainSvid refuses a server that is not the CA even with a valid chain', async () => {
  await assert.rejects(obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: 'x', spiffeId: `spiffe://other.test/svc/orders` }),
    /not the CA/)
})

test('a CSR asking for CA powers or extra extensions still yields a plain leaf, never signed by the root', async () => {
  const token = await h.joinToken(orders)
  const keys = await generateKeyPair()
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys, signingAlgorithm: EC_ALG, name: 'CN=Evil Intermediate',
    extensions: [
      new x509.BasicConstraintsExtension(true, 5, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: orders }], true),
    ],
  })
  const res = await rawJoin(token, csr.toString('pem'))
  assert.equal(res.status, 200)
  const leaf = new X509Certificate(res.body.certificate)
  assert.equal(leaf.ca, false)
  assert.ok(!leaf.subject, 'the CSR subject is not copied')
  assert.equal(leaf.verify(new X509Certificate(h.rootPem).publicKey), false)
  assert.ok(leaf.verify(new X509Certificate(res.body.chain[0]).publicKey))
  assert.doesNotMatch(leaf.keyUsage?.join(',') ?? '', /keyCertSign/i)
})

test('refused join attempts are rate limited per address, with Retry-After', async () => {
  const strict = await startHarness({ joinFailuresPerMinute: 3 })
  const agent = new Agent({ connect: { ca: strict.rootPem, checkServerIdentity: () => undefined } })
  try {
    const { csrPem } = await createKeyAndCsr({ spiffeId: orders })
    const attempt = async (joinToken: string) => {
      const res = await request(`${strict.url}/v1/svid/join`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ joinToken, csr: csrPem }) })
      return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: await res.body.json() as { code: string } }
    }
    for (let i = 0; i < 3; i++) assert.equal((await attempt(`bwjt_guess${i}`)).status, 401)
    const limited = await attempt('bwjt_guess3')
    assert.equal(limited.status, 429)
    assert.equal(limited.body.code, 'BW_RATE_LIMITED')
    assert.ok(Number(limited.retryAfter) >= 1)
    // Even a good token waits: the limit is per address, checked before anything else.
    const good = await strict.joinToken(orders)
    assert.equal((await attempt(good)).status, 429)
    strict.clock.advance(61_000)
    assert.equal((await attempt(good)).status, 200)
  } finally {
    await agent.close()
    await strict.close()
  }
})

test('obtainSvid retries while the CA is not listening yet', async () => {
  const { freePort } = await import('@bulwark/testkit')
  const port = await freePort()
  await assert.rejects(obtainSvid({ caUrl: `https://127.0.0.1:${port}`, rootPem: h.rootPem, joinToken: 'bwjt_x', spiffeId: orders, attempts: 2, retryBaseMs: 10 }),
    (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED')
})
