// Key pair and PKCS#10 CSR (RFC 2986) made inside the workload: the private
// key never leaves the process; the CA only ever sees the CSR.
import 'reflect-metadata' // @peculiar/x509 v2 loads tsyringe, which throws without a Reflect metadata polyfill
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Crypto)

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const

export type CsrRequest = {
  spiffeId: string
  dnsNames?: readonly string[]
  ipAddresses?: readonly string[]
}

export type KeyAndCsr = {
  /** PKCS#8 PEM. Never logged, never sent. */
  keyPem: string
  csrPem: string
  /** SPKI DER of the public key, to check the issued certificate carries it. */
  publicKeyDer: Uint8Array
}

/** Generates an ECDSA P-256 key and a CSR whose only URI SAN is `spiffeId`. */
export async function createKeyAndCsr(request: CsrRequest): Promise<KeyAndCsr> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair
  const names: x509.JsonGeneralName[] = [
    { type: 'url', value: request.spiffeId },
    ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ]
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.SubjectAlternativeNameExtension(names, true)],
  })
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey)
  const spki = await webcrypto.subtle.exportKey('spki', keys.publicKey as unknown as webcrypto.CryptoKey)
  return {
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    csrPem: csr.toString('pem'),
    publicKeyDer: new Uint8Array(spki),
  }
}
