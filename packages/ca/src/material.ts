// The CA's key material in the Bulwark home: a self-signed root whose key only
// ever signs intermediates, and the intermediate that signs every leaf. Used
// by `bulwark init` (library calls) and by the CA process.
import { existsSync, readFileSync } from 'node:fs'
import { X509Certificate as NodeX509 } from 'node:crypto'
import { operatorSpiffeId, writeFileAtomic, writeSecretFile, type HomePaths } from '@bulwark/core/base'
import {
  createCaCertificate, createLeafCertificate, exportPrivateKeyPem, generateKeyPair, importSigningKey, newSerial, x509,
} from './x509.ts'

const DAY = 24 * 3600_000
export const ROOT_LIFETIME_MS = 10 * 365 * DAY
export const INTERMEDIATE_LIFETIME_MS = 365 * DAY
export const OPERATOR_TTL_SECONDS = 30 * 24 * 3600
/** Certificates start a little in the past so a peer whose clock lags accepts them. */
const BACKDATE_MS = 60_000

export type IntermediateSigner = {
  cert: x509.X509Certificate
  key: CryptoKey
  certPem: string
  rootPem: string
}

/** Creates root and intermediate in `paths.caDir`. Refuses to overwrite an existing root unless `force`. */
export async function initCaMaterial(paths: HomePaths, opts: { trustDomain: string; force?: boolean; now?: number }): Promise<void> {
  if (!opts.force && (existsSync(paths.rootKey) || existsSync(paths.rootCert))) {
    throw new Error(`ca material already exists in \`${paths.caDir}\``)
  }
  const now = opts.now ?? Date.now()
  const rootKeys = await generateKeyPair()
  const root = await createCaCertificate({
    subject: `CN=Bulwark Root CA, O=${opts.trustDomain}`,
    publicKey: rootKeys.publicKey,
    signingKey: rootKeys.privateKey,
    pathLength: 1,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ROOT_LIFETIME_MS),
  })
  writeSecretFile(paths.rootKey, await exportPrivateKeyPem(rootKeys.privateKey))
  writeFileAtomic(paths.rootCert, root.toString('pem') + '\n', 0o644)
  await writeIntermediate(paths, { cert: root, key: rootKeys.privateKey }, opts.trustDomain, now)
}

/**
 * Signs a fresh intermediate with the root and writes it to the home. The
 * root key is read from disk for this call only and signs nothing else.
 */
export async function rotateIntermediateMaterial(paths: HomePaths, opts: { trustDomain: string; now?: number }): Promise<IntermediateSigner> {
  const root = new x509.X509Certificate(readFileSync(paths.rootCert, 'utf8'))
  const rootKey = await importSigningKey(readFileSync(paths.rootKey, 'utf8'))
  await writeIntermediate(paths, { cert: root, key: rootKey }, opts.trustDomain, opts.now ?? Date.now())
  return await loadIntermediate(paths)
}

async function writeIntermediate(paths: HomePaths, root: { cert: x509.X509Certificate; key: CryptoKey }, trustDomain: string, now: number): Promise<void> {
  const keys = await generateKeyPair()
  const notAfter = Math.min(now + INTERMEDIATE_LIFETIME_MS, root.cert.notAfter.getTime())
  const intermediate = await createCaCertificate({
    subject: `CN=Bulwark Intermediate CA ${new Date(now).toISOString().slice(0, 19)}Z, O=${trustDomain}`,
    publicKey: keys.publicKey,
    issuer: root,
    signingKey: root.key,
    pathLength: 0,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
  })
  writeSecretFile(paths.intermediateKey, await exportPrivateKeyPem(keys.privateKey))
  writeFileAtomic(paths.intermediateCert, intermediate.toString('pem') + '\n', 0o644)
}

/** Loads the intermediate key and certificate (and the root certificate, never its key). */
export async function loadIntermediate(paths: HomePaths): Promise<IntermediateSigner> {
  const certPem = readFileSync(paths.intermediateCert, 'utf8')
  const rootPem = readFileSync(paths.rootCert, 'utf8')
  const cert = new x509.X509Certificate(certPem)
  const key = await importSigningKey(readFileSync(paths.intermediateKey, 'utf8'))
  const nodeCert = new NodeX509(certPem)
  if (!nodeCert.verify(new NodeX509(rootPem).publicKey)) throw new Error('intermediate certificate is not signed by the root in the home')
  return { cert, key, certPem: cert.toString('pem') + '\n', rootPem }
}

/**
 * Issues the operator's certificate (`spiffe://<td>/operator/admin`) for the
 * CLI: key and leaf + intermediate into `paths.operatorKey`/`operatorCert`.
 */
export async function issueOperatorCertificate(paths: HomePaths, opts: { trustDomain: string; ttlSeconds?: number; now?: number }): Promise<void> {
  const signer = await loadIntermediate(paths)
  const now = opts.now ?? Date.now()
  const keys = await generateKeyPair()
  const notAfter = Math.min(now + (opts.ttlSeconds ?? OPERATOR_TTL_SECONDS) * 1000, signer.cert.notAfter.getTime())
  const leaf = await createLeafCertificate({
    serial: newSerial(),
    publicKey: keys.publicKey,
    issuer: signer,
    spiffeId: operatorSpiffeId(opts.trustDomain),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
  })
  writeSecretFile(paths.operatorKey, await exportPrivateKeyPem(keys.privateKey))
  writeFileAtomic(paths.operatorCert, leaf.toString('pem') + '\n' + signer.certPem, 0o644)
}
