// Turns the CA's SVID answer into an Svid, checking that the certificate is
// the one we asked for: our public key, our SPIFFE ID, chained to the bundle.
import { X509Certificate } from 'node:crypto'
import { spiffeIdOfCertificate, type Svid } from '@bulwark/core'
import type { KeyAndCsr } from './csr.ts'

/** `POST /v1/svid/join` and `/v1/svid/renew` answer with this. */
export type SvidResponse = {
  spiffeId: string
  certificate: string
  chain: string[]
  bundle: string[]
  notAfter: string
  serial?: string
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string')
}

export function svidFromResponse(body: unknown, expectedSpiffeId: string, material: KeyAndCsr): Svid {
  const res = body as Partial<SvidResponse> | undefined
  if (!res || typeof res.certificate !== 'string' || !isStringArray(res.chain) || !isStringArray(res.bundle)) {
    throw new Error('ca answered without certificate, chain and bundle')
  }
  const leaf = new X509Certificate(res.certificate)
  if (spiffeIdOfCertificate(leaf) !== expectedSpiffeId) throw new Error(`ca issued a certificate for \`${spiffeIdOfCertificate(leaf) ?? 'nothing'}\`, not \`${expectedSpiffeId}\``)
  const spki = leaf.publicKey.export({ type: 'spki', format: 'der' })
  if (!Buffer.from(material.publicKeyDer).equals(spki)) throw new Error('ca issued a certificate for a different key')
  const chain = res.chain.map((pem) => new X509Certificate(pem))
  const roots = res.bundle.map((pem) => new X509Certificate(pem))
  const issuer = chain[0]
  if (!issuer || !leaf.verify(issuer.publicKey) || !roots.some((root) => issuer.verify(root.publicKey))) {
    throw new Error('issued certificate does not chain to the trust bundle')
  }
  return {
    spiffeId: expectedSpiffeId,
    keyPem: material.keyPem,
    certPem: res.certificate.trim() + '\n',
    chainPem: res.chain.map((c) => c.trim() + '\n').join(''),
    bundlePem: res.bundle.map((c) => c.trim() + '\n').join(''),
    notAfter: Date.parse(leaf.validTo),
    serial: leaf.serialNumber.toUpperCase(),
  }
}

/** The CA's own SPIFFE ID in the trust domain of `spiffeId`. */
export function caSpiffeIdFor(spiffeId: string): string {
  const trustDomain = spiffeId.slice('spiffe://'.length).split('/')[0]
  return `spiffe://${trustDomain}/svc/ca`
}
