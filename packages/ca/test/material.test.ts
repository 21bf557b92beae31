import { test } from 'node:test'
import assert from 'node:assert/strict'
import { statSync, readFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { homePaths, operatorSpiffeId, spiffeIdOfCertificate } from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'
import { initCaMaterial, issueOperatorCertificate, rotateIntermediateMaterial } from '../src/index.ts'

const TD = 'bulwark.test'

test('init writes root and intermediate with 0600 keys; the root signs only the intermediate', async () => {
  using dir = tempDir()
  const paths = homePaths(dir.path)
  await initCaMaterial(paths, { trustDomain: TD })
  await issueOperatorCertificate(paths, { trustDomain: TD })
  for (const key of [paths.rootKey, paths.intermediateKey, paths.operatorKey]) {
    assert.equal(statSync(key).mode & 0o777, 0o600, key)
  }
  const root = new X509Certificate(readFileSync(paths.rootCert))
  const intermediate = new X509Certificate(readFileSync(paths.intermediateCert))
  const [leafPem, chainPem] = readFileSync(paths.operatorCert, 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/)
  const leaf = new X509Certificate(leafPem!)
  assert.equal(root.ca, true)
  assert.equal(intermediate.ca, true)
  assert.ok(root.verify(root.publicKey), 'root is self-signed')
  assert.ok(intermediate.verify(root.publicKey), 'intermediate is signed by the root')
  assert.equal(new X509Certificate(chainPem!).fingerprint256, intermediate.fingerprint256, 'operator cert file carries the intermediate')
  assert.equal(leaf.ca, false)
  assert.ok(leaf.verify(intermediate.publicKey), 'operator cert is signed by the intermediate')
  assert.equal(leaf.verify(root.publicKey), false, 'the root never signs a leaf')
  assert.equal(leaf.checkIssued(intermediate), true)
  assert.equal(spiffeIdOfCertificate(leaf), operatorSpiffeId(TD))
  const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)
  assert.ok(lifetime > 29 * 86400_000 && lifetime < 31 * 86400_000, 'operator cert lives 30 days')
  assert.ok(Date.parse(root.validTo) - Date.now() > 9 * 365 * 86400_000, 'root lives ten years')
})

test('init refuses to overwrite existing material unless forced', async () => {
  using dir = tempDir()
  const paths = homePaths(dir.path)
  await initCaMaterial(paths, { trustDomain: TD })
  const before = readFileSync(paths.rootCert, 'utf8')
  await assert.rejects(initCaMaterial(paths, { trustDomain: TD }), /already exists/)
  assert.equal(readFileSync(paths.rootCert, 'utf8'), before)
  await initCaMaterial(paths, { trustDomain: TD, force: true })
  assert.notEqual(readFileSync(paths.rootCert, 'utf8'), before)
})

test('rotating the intermediate keeps the root and signs the new one with it', async () => {
  using dir = tempDir()
  const paths = homePaths(dir.path)
  await initCaMaterial(paths, { trustDomain: TD })
  const rootBefore = readFileSync(paths.rootCert, 'utf8')
  const interBefore = readFileSync(paths.intermediateCert, 'utf8')
  const signer = await rotateIntermediateMaterial(paths, { trustDomain: TD })
  assert.equal(readFileSync(paths.rootCert, 'utf8'), rootBefore)
  assert.notEqual(signer.certPem, interBefore)
  assert.ok(new X509Certificate(signer.certPem).verify(new X509Certificate(rootBefore).publicKey))
  assert.equal(statSync(paths.intermediateKey).mode & 0o777, 0o600)
})
