// A throwaway CA for tests: root -> intermediate -> SVIDs, made in memory with
// @peculiar/x509 on WebCrypto. Lets a component test real mTLS without the
// ca service. Never used outside tests.
import 'reflect-metadata' // @peculiar/x509 v2 loads tsyringe, which throws without a Reflect metadata polyfill
import { webcrypto, randomBytes } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { createSvidSource, serviceSpiffeId, type MutableSvidSource, type Svid } from '@bulwark/core'

x509.cryptoProvider.set(webcrypto as unknown as Crypto)

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key)
  return x509.PemConverter.encode(der, 'PRIVATE KEY')
}

function serial(): string {
  const bytes = randomBytes(16)
  bytes[0] = bytes[0]! & 0x7f
  return bytes.toString('hex')
}

export type IssueOptions = {
  /** Lifetime in seconds (default 3600). Negative makes an already expired certificate. */
  ttlSeconds?: number
  notBefore?: Date
  dnsNames?: string[]
  ipAddresses?: string[]
  /** Override the URI SANs entirely (e.g. none, or two) for negative tests. */
  uris?: string[]
}

export type TestCa = {
  trustDomain: string
  rootPem: string
  intermediatePem: string
  /** Issues an SVID for `spiffe://<td>/svc/<name>` (or a full SPIFFE ID). */
  issue(nameOrId: string, options?: IssueOptions): Promise<Svid>
  /** A mutable source holding a fresh SVID for `name`. */
  source(nameOrId: string, options?: IssueOptions): Promise<MutableSvidSource>
}

export async function createTestCa(options: { trustDomain?: string; commonName?: string } = {}): Promise<TestCa> {
  const trustDomain = options.trustDomain ?? 'bulwark.test'
  const now = Date.now()
  const rootKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(), name: `CN=${options.commonName ?? 'Test Root'}`, keys: rootKeys, signingAlgorithm: ALG,
    notBefore: new Date(now - 60_000), notAfter: new Date(now + 24 * 3600_000),
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  })
  const interKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: serial(), subject: 'CN=Test Intermediate', issuer: root.subject,
    notBefore: new Date(now - 60_000), notAfter: new Date(now + 24 * 3600_000),
    signingAlgorithm: ALG, publicKey: interKeys.publicKey, signingKey: rootKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(interKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  })
  const rootPem = root.toString('pem')
  const intermediatePem = intermediate.toString('pem')

  async function issue(nameOrId: string, opts: IssueOptions = {}): Promise<Svid> {
    const spiffeId = nameOrId.startsWith('spiffe://') ? nameOrId : serviceSpiffeId(trustDomain, nameOrId)
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair
    const ttl = opts.ttlSeconds ?? 3600
    const notBefore = opts.notBefore ?? new Date(Math.min(Date.now() - 30_000, Date.now() + ttl * 1000 - 60_000))
    const notAfter = new Date(Date.now() + ttl * 1000)
    const names: x509.JsonGeneralName[] = [
      ...(opts.uris ?? [spiffeId]).map((value) => ({ type: 'url' as const, value })),
      ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ]
    const serialNumber = serial()
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber, subject: '', issuer: intermediate.subject, notBefore, notAfter,
      signingAlgorithm: ALG, publicKey: keys.publicKey, signingKey: interKeys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
        ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, true)] : []),
        await x509.AuthorityKeyIdentifierExtension.create(interKeys.publicKey),
      ],
    })
    return {
      spiffeId, keyPem: await pkcs8Pem(keys.privateKey), certPem: cert.toString('pem'), chainPem: intermediatePem,
      bundlePem: rootPem, notAfter: notAfter.getTime(), serial: serialNumber.toUpperCase(),
    }
  }

  return {
    trustDomain, rootPem, intermediatePem, issue,
    async source(nameOrId, opts) { return createSvidSource(await issue(nameOrId, opts)) },
  }
}
