import { test } from 'node:test'
import assert from 'node:assert/strict'
import { webcrypto } from 'node:crypto'
import { serviceSpiffeId } from '@bulwark/core'
import { checkCsr } from '../src/index.ts'
import { x509 } from '../src/x509.ts'

const TD = 'bulwark.test'
const POLICY = { trustDomain: TD, servingNames: ['localhost', '127.0.0.1', '::1'] }
const gateway = serviceSpiffeId(TD, 'gateway')
const orders = serviceSpiffeId(TD, 'orders')

type Alg = 'P-256' | 'P-384' | 'RSA' | 'Ed25519'

async function csr(names: x509.JsonGeneralName[] | null, alg: Alg = 'P-256'): Promise<string> {
  const params = alg === 'RSA'
    ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
    : alg === 'Ed25519' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: alg, hash: alg === 'P-384' ? 'SHA-384' : 'SHA-256' }
  const keys = await webcrypto.subtle.generateKey(params, true, ['sign', 'verify']) as CryptoKeyPair
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    keys, signingAlgorithm: params,
    extensions: names ? [new x509.SubjectAlternativeNameExtension(names, false)] : [],
  })
  return request.toString('pem')
}

const url = (value: string) => ({ type: 'url' as const, value })
const dns = (value: string) => ({ type: 'dns' as const, value })
const ip = (value: string) => ({ type: 'ip' as const, value })

const CASES: Array<{ title: string; names: x509.JsonGeneralName[] | null; alg?: Alg; code?: string; expect?: { spiffeId: string; dnsNames?: string[]; ipAddresses?: string[] } }> = [
  { title: 'one SPIFFE ID, P-256', names: [url(orders)], expect: { spiffeId: orders } },
  { title: 'one SPIFFE ID, P-384', names: [url(orders)], alg: 'P-384', expect: { spiffeId: orders } },
  { title: 'RSA keys', names: [url(orders)], alg: 'RSA', code: 'BW_CA_CSR_KEY' },
  { title: 'Ed25519 keys', names: [url(orders)], alg: 'Ed25519', code: 'BW_CA_CSR_KEY' },
  { title: 'no SAN extension', names: null, code: 'BW_CA_CSR_SAN' },
  { title: 'two URI SANs', names: [url(orders), url(serviceSpiffeId(TD, 'payments'))], code: 'BW_CA_CSR_SAN' },
  { title: 'an https URI', names: [url('https://orders.example')], code: 'BW_CA_CSR_SAN' },
  { title: 'the bare trust domain', names: [url(`spiffe://${TD}`)], code: 'BW_CA_CSR_SAN' },
  { title: 'a dot-dot path', names: [url(`spiffe://${TD}/svc/../ca`)], code: 'BW_CA_CSR_SAN' },
  { title: 'an e-mail SAN', names: [url(orders), { type: 'email', value: 'a@b.c' }], code: 'BW_CA_CSR_SAN' },
  { title: 'another trust domain', names: [url('spiffe://evil.test/svc/orders')], code: 'BW_CA_CSR_FOREIGN_TRUST_DOMAIN' },
  { title: 'a look-alike trust domain', names: [url(`spiffe://${TD}.evil/svc/orders`)], code: 'BW_CA_CSR_FOREIGN_TRUST_DOMAIN' },
  { title: 'DNS SAN on a non-gateway service', names: [url(orders), dns('localhost')], code: 'BW_CA_SERVING_NAME_DENIED' },
  { title: 'gateway with a name outside servingNames', names: [url(gateway), dns('evil.example')], code: 'BW_CA_SERVING_NAME_DENIED' },
  { title: 'gateway with a foreign IP', names: [url(gateway), ip('10.0.0.1')], code: 'BW_CA_SERVING_NAME_DENIED' },
  { title: 'gateway with allowed names (case and IPv6 form normalised)', names: [url(gateway), dns('LOCALHOST'), ip('127.0.0.1'), ip('0:0:0:0:0:0:0:1')],
    expect: { spiffeId: gateway, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] } },
]

for (const c of CASES) {
  test(`csr policy: ${c.code ? 'refuses' : 'accepts'} ${c.title}`, async () => {
    const pem = await csr(c.names, c.alg)
    if (c.code) {
      await assert.rejects(checkCsr(pem, POLICY), (e: { code: string }) => e.code === c.code)
    } else {
      const grant = await checkCsr(pem, POLICY)
      assert.equal(grant.spiffeId, c.expect!.spiffeId)
      assert.deepEqual(grant.dnsNames, c.expect!.dnsNames ?? [])
      assert.deepEqual(grant.ipAddresses, c.expect!.ipAddresses ?? [])
    }
  })
}

test('csr policy: refuses what is not a PEM CSR', async () => {
  for (const pem of ['', 'hello', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', '-----BEGIN CERTIFICATE REQUEST-----\n!!\n-----END CERTIFICATE REQUEST-----']) {
    await assert.rejects(checkCsr(pem, POLICY), (e: { code: string }) => e.code === 'BW_CA_CSR_INVALID')
  }
})
