// X.509 building blocks for the CA on @peculiar/x509 over node:crypto's
// WebCrypto: key generation and PEM round trips, certificate signing with the
// extension profiles of RFC 5280 (CA certs) and the X.509-SVID spec (leaves).
import 'reflect-metadata' // @peculiar/x509 v2 loads tsyringe, which throws without a Reflect metadata polyfill
import { webcrypto, randomBytes } from 'node:crypto'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Crypto)

export { x509 }

/** ECDSA P-256 with SHA-256: every key this CA makes and signs with. */
export const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']) as CryptoKeyPair
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key)
  return x509.PemConverter.encode(der, 'PRIVATE KEY')
}

/** Imports a PKCS#8 P-256 key as a non-extractable signing key. */
export async function importSigningKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0]
  if (!der) throw new TypeError('no PEM private key found')
  return await webcrypto.subtle.importKey('pkcs8', der, EC_ALG, false, ['sign']) as unknown as CryptoKey
}

/** A positive 128-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, unpredictable). */
export function newSerial(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) | 0x01
  return bytes.toString('hex').toUpperCase()
}

/** Splits concatenated PEM certificates into one string each. */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? []
}

export type CaCertificateParams = {
  subject: string
  publicKey: CryptoKey
  /** Absent for a self-signed root. */
  issuer?: { cert: x509.X509Certificate; key: CryptoKey }
  signingKey: CryptoKey
  pathLength: number
  notBefore: Date
  notAfter: Date
}

/** A CA certificate: basicConstraints CA with a path length, keyCertSign + cRLSign only. */
export async function createCaCertificate(params: CaCertificateParams): Promise<x509.X509Certificate> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, params.pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(params.publicKey),
  ]
  if (params.issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(params.issuer.cert.publicKey))
  return await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: params.subject,
    issuer: params.issuer ? params.issuer.cert.subject : params.subject,
    notBefore: params.notBefore,
    notAfter: params.notAfter,
    signingAlgorithm: EC_ALG,
    publicKey: params.publicKey,
    signingKey: params.signingKey,
    extensions,
  })
}

export type LeafParams = {
  serial: string
  publicKey: CryptoKey | x509.PublicKey
  issuer: { cert: x509.X509Certificate; key: CryptoKey }
  /** The single URI SAN: a SPIFFE ID. */
  spiffeId: string
  dnsNames?: readonly string[]
  ipAddresses?: readonly string[]
  notBefore: Date
  notAfter: Date
}

/**
 * An X.509-SVID leaf: not a CA, digitalSignature (+keyAgreement), server and
 * client auth, exactly one URI SAN (the SPIFFE ID), empty subject.
 */
export async function createLeafCertificate(params: LeafParams): Promise<x509.X509Certificate> {
  const names: x509.JsonGeneralName[] = [
    { type: 'url', value: params.spiffeId },
    ...(params.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(params.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ]
  return await x509.X509CertificateGenerator.create({
    serialNumber: params.serial,
    subject: '',
    issuer: params.issuer.cert.subject,
    notBefore: params.notBefore,
    notAfter: params.notAfter,
    signingAlgorithm: EC_ALG,
    publicKey: params.publicKey,
    signingKey: params.issuer.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      // The subject is empty, so the SAN extension must be critical (RFC 5280 §4.2.1.6).
      new x509.SubjectAlternativeNameExtension(names, true),
      await x509.AuthorityKeyIdentifierExtension.create(params.issuer.cert.publicKey),
    ],
  })
}
