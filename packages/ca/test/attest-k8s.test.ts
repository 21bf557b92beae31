import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { X509Certificate } from 'node:crypto'
import { Agent, request } from 'undici'
import { SignJWT } from 'jose'
import { serviceSpiffeId, spiffeIdOfCertificate } from '@bulwark/core'

import { createKeyAndCsr, obtainSvid, SvidRequestError } from '@bulwark/sdk/svid'
import { startHarness, eventsOf, TD, type Harness } from './helpers.ts'
import { startStandInIssuer, tempDir, type PodToken, type StandInIssuer } from '@bulwark/testkit'

const orders = serviceSpiffeId(TD, 'orders')
const dir = tempDir('bulwark-k8s-attest-')
let issuer: StandInIssuer
let h: Harness
let anonymous: Agent

function attestationConfig(i: StandInIssuer) {
  const caFile = join(dir.path, 'cluster-ca.crt')
  writeFileSync(caFile, i.caPem)
  return {
    kubernetes: {
      issuer: i.issuer, audiences: ['bulwark-ca'], namespace: 'bulwark', caFile, clockToleranceSeconds: 5,
      serviceAccounts: { orders: 'orders', 'bulwark-gateway': 'gateway' },
    },
  }
}

before(async () => {
  issuer = await startStandInIssuer()
  h = await startHarness({ svidTtlSeconds: 600, attestation: attestationConfig(issuer) })
  anonymous = new Agent({ connect: { ca: h.rootPem, rejectUnauthorized: true, checkServerIdentity: () => undefined } })
})
after(async () => { await anonymous.close(); await h.close(); await issuer.close(); dir.remove() })

async function attest(token: string, spiffeId = orders) {
  const { csrPem } = await createKeyAndCsr({ spiffeId })
  const res = await request(`${h.url}/v1/svid/attest/k8s`, {
    method: 'POST', dispatcher: anonymous, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, csr: csrPem }),
  })
  return { status: res.statusCode, body: await res.body.json() as { code?: string; certificate?: string } }
}

test('a projected service-account token for bulwark-ca yields one SVID for the mapped component, audited with the pod', async () => {
  const tokenFile = join(dir.path, 'token')
  writeFileSync(tokenFile, await issuer.token({ pod: { name: 'orders-5f7d9-abcde', uid: '0b6c1f0e-3a1d-4c55-9d6a-1f2e3d4c5b6a' } }))
  const svid = await obtainSvid({ caUrl: h.url, rootPem: h.rootPem, kubernetesTokenFile: tokenFile, spiffeId: orders })
  assert.equal(spiffeIdOfCertificate(new X509Certificate(svid.certPem)), orders)
  const issued = eventsOf(h, 'cert.issued').find((e) => e.details?.serial === svid.serial)
  assert.equal(issued?.resource, orders)
  assert.equal(issued?.action, 'svid.attest')
  assert.equal(issued?.details?.attestation, 'k8s_psat')
  assert.equal(issued?.details?.serviceAccount, 'orders')
  assert.equal(issued?.details?.pod, 'orders-5f7d9-abcde')
  assert.equal(issued?.details?.podUid, '0b6c1f0e-3a1d-4c55-9d6a-1f2e3d4c5b6a')
  assert.ok(!JSON.stringify(h.audit.events).includes(await issuer.token()), 'no token in the audit log')
  const inventory = await h.op('GET', `/v1/certs?spiffeId=${encodeURIComponent(orders)}`)
  assert.ok(inventory.body.certs.some((c: { serial: string; via: string }) => c.serial === svid.serial && c.via === 'k8s_psat'))
  // A restarted container attests again with the token the kubelet keeps in place: no operator step.
  const again = await obtainSvid({ caUrl: h.url, rootPem: h.rootPem, kubernetesTokenFile: tokenFile, spiffeId: orders })
  assert.notEqual(again.serial, svid.serial)
  assert.ok(issuer.requests.includes('/.well-known/openid-configuration') && issuer.requests.includes('/openid/v1/jwks'))
})

const refusals: Array<{ name: string; spec: PodToken; status: number; code: string }> = [
  { name: 'a token for another audience (the API server\'s)', spec: { audience: ['https://kubernetes.default.svc.cluster.local'] }, status: 401, code: 'BW_CA_ATTESTATION_INVALID' },
  { name: 'an expired token', spec: { expiresIn: -60 }, status: 401, code: 'BW_CA_ATTESTATION_INVALID' },
  { name: 'a token from another namespace', spec: { namespace: 'default' }, status: 403, code: 'BW_CA_ATTESTATION_DENIED' },
  { name: 'a service account mapped to no component', spec: { serviceAccount: 'default' }, status: 403, code: 'BW_CA_ATTESTATION_DENIED' },
  { name: 'a token signed by a key the issuer does not publish', spec: { foreignKey: true }, status: 401, code: 'BW_CA_ATTESTATION_INVALID' },
  { name: 'a token from another issuer', spec: { issuer: 'https://evil.example' }, status: 401, code: 'BW_CA_ATTESTATION_INVALID' },
  { name: 'a token bound to no pod (a legacy secret token)', spec: { pod: null }, status: 401, code: 'BW_CA_ATTESTATION_INVALID' },
  { name: 'a subject that disagrees with the service account claim', spec: { sub: 'system:serviceaccount:bulwark:gateway' }, status: 401, code: 'BW_CA_ATTESTATION_INVALID' },
]

for (const refusal of refusals) {
  test(`attestation refuses ${refusal.name}, issues nothing and audits the refusal`, async () => {
    const before = eventsOf(h, 'cert.issued').length
    const res = await attest(await issuer.token(refusal.spec))
    assert.equal(res.status, refusal.status)
    assert.equal(res.body.code, refusal.code)
    assert.equal(eventsOf(h, 'cert.issued').length, before, 'nothing issued')
    const audited = eventsOf(h, 'attestation.rejected').at(-1)
    assert.equal(audited?.reason, refusal.code)
    assert.equal(audited?.details?.method, 'k8s_psat')
  })
}

test('attestation refuses an HMAC-signed token and a CSR for another component than the service account', async () => {
  const hmac = await new SignJWT({ 'kubernetes.io': { namespace: 'bulwark', pod: { name: 'p', uid: 'u' }, serviceaccount: { name: 'orders', uid: 'u' } } })
    .setProtectedHeader({ alg: 'HS256' }).setIssuer(issuer.issuer).setAudience('bulwark-ca').setSubject('system:serviceaccount:bulwark:orders')
    .setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode('x'.repeat(32)))
  const forged = await attest(hmac)
  assert.equal(forged.status, 401)
  assert.equal(forged.body.code, 'BW_CA_ATTESTATION_INVALID')
  const other = await attest(await issuer.token({ serviceAccount: 'orders' }), serviceSpiffeId(TD, 'payments'))
  assert.equal(other.status, 403)
  assert.equal(other.body.code, 'BW_CA_CSR_ID_MISMATCH')
  assert.equal(eventsOf(h, 'attestation.rejected').at(-1)?.resource, orders)
})

test('a quarantined component cannot attest', async () => {
  const gateway = serviceSpiffeId(TD, 'gateway')
  assert.equal((await h.op('POST', '/v1/quarantine', { service: 'gateway' })).status, 200)
  try {
    const res = await attest(await issuer.token({ serviceAccount: 'bulwark-gateway' }), gateway)
    assert.equal(res.status, 403)
    assert.equal(res.body.code, 'BW_CA_QUARANTINED')
  } finally {
    await h.op('POST', '/v1/release', { service: 'gateway' })
  }
})

test('a discovery document naming another issuer stops attestation (503, audited) until it is right', async () => {
  const i2 = await startStandInIssuer()
  const h2 = await startHarness({ attestation: attestationConfig(i2) })
  const agent = new Agent({ connect: { ca: h2.rootPem, checkServerIdentity: () => undefined } })
  try {
    const { csrPem } = await createKeyAndCsr({ spiffeId: orders })
    const post = async () => {
      const res = await request(`${h2.url}/v1/svid/attest/k8s`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: await i2.token(), csr: csrPem }) })
      return { status: res.statusCode, body: await res.body.json() as { code?: string } }
    }
    i2.advertise('https://someone-else.example')
    const refused = await post()
    assert.equal(refused.status, 503)
    assert.equal(refused.body.code, 'BW_CA_ATTESTATION_UNAVAILABLE')
    assert.equal(eventsOf(h2, 'attestation.rejected').at(-1)?.outcome, 'error')
    i2.advertise(undefined)
    assert.equal((await post()).status, 200)
  } finally {
    await agent.close()
    await h2.close()
    await i2.close()
  }
})

test('without kubernetes attestation configured the route refuses every token (404, audited)', async () => {
  const plain = await startHarness()
  const agent = new Agent({ connect: { ca: plain.rootPem, checkServerIdentity: () => undefined } })
  try {
    const { csrPem } = await createKeyAndCsr({ spiffeId: orders })
    const res = await request(`${plain.url}/v1/svid/attest/k8s`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: await issuer.token(), csr: csrPem }) })
    assert.equal(res.statusCode, 404)
    assert.equal((await res.body.json() as { code: string }).code, 'BW_CA_ATTESTATION_DISABLED')
    assert.equal(eventsOf(plain, 'attestation.rejected').at(-1)?.reason, 'BW_CA_ATTESTATION_DISABLED')
    await assert.rejects(obtainSvid({ caUrl: plain.url, rootPem: plain.rootPem, kubernetesTokenFile: join(dir.path, 'token'), spiffeId: orders }),
      (e: SvidRequestError) => e.status === 404)
  } finally {
    await agent.close()
    await plain.close()
  }
})
