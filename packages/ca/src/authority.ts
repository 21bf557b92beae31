// The CA's decisions, independent of HTTP: sign leaves with the current
// intermediate, keep the inventory, mint and redeem join tokens, and hold the
// revocation/quarantine view that the bundle feed publishes.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock, Svid } from '@bulwark/core'
import { serviceSpiffeId } from '@bulwark/core'
import { loadIntermediate, rotateIntermediateMaterial, type IntermediateSigner } from './material.ts'
import type { CaStore, CertRecord } from './store.ts'
import type { CsrGrant } from './csr-policy.ts'
import { createLeafCertificate, exportPrivateKeyPem, generateKeyPair, newSerial, x509 } from './x509.ts'
import type { HomePaths } from '@bulwark/core'

export type IssuedCert = {
  spiffeId: string
  serial: string
  certificate: string
  chain: string[]
  bundle: string[]
  notBefore: number
  notAfter: number
}

export type RevocationSink = { replace(serials: Iterable<string>, blocked: Iterable<string>): void }

export type AuthorityOptions = {
  trustDomain: string
  svidTtlSeconds: number
  paths: HomePaths
  store: CaStore
  clock: Clock
  /** Pushed whenever revocation or quarantine changes (the CA listener's own view). */
  revocation?: RevocationSink
}

export const JOIN_TOKEN_PREFIX = 'bwjt_'
/** Expired certificates stay in the inventory this long (SVIDs rotate every 30 minutes). */
const INVENTORY_RETENTION_MS = 30 * 24 * 3600_000

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

export type Authority = Awaited<ReturnType<typeof createAuthority>>

export async function createAuthority(options: AuthorityOptions) {
  const { store, clock, trustDomain } = options
  let signer: IntermediateSigner = await loadIntermediate(options.paths)
  let revoked = new Set<string>()
  let quarantined = new Set<string>()
  let seenVersion = 0
  let closed = false
  const waiters = new Set<() => void>()
  let issuedSincePrune = 0
  const sinks = new Set<RevocationSink>(options.revocation ? [options.revocation] : [])

  /** Reloads the revocation/quarantine view as of `version` (read before it), pushes it and wakes long-polls. */
  async function reload(version: number): Promise<void> {
    const [serials, blocked] = await Promise.all([store.revokedSerials(clock.now()), store.quarantined()])
    if (version < seenVersion) return
    seenVersion = version
    revoked = new Set(serials)
    quarantined = new Set(blocked)
    for (const sink of sinks) sink.replace(revoked, quarantined)
    for (const wake of waiters) wake()
    waiters.clear()
  }
  /**
   * Catches up with changes another CA replica made (the stored bundle version
   * moved): one small read. Returns the current bundle version.
   */
  async function sync(): Promise<number> {
    const version = await store.version()
    if (version !== seenVersion) await reload(version)
    return version
  }
  async function publish(): Promise<void> {
    await reload(await store.bumpVersion())
  }
  await reload(await store.version())

  async function sign(spiffeId: string, publicKey: CryptoKey | x509.PublicKey, names: { dnsNames?: readonly string[]; ipAddresses?: readonly string[] },
    meta: { kind: CertRecord['kind']; via: CertRecord['via']; ttlSeconds?: number }): Promise<IssuedCert> {
    const now = clock.now()
    const ttlMs = (meta.ttlSeconds ?? options.svidTtlSeconds) * 1000
    // A little slack for clock skew, never more than a tenth of the lifetime.
    const notBefore = now - Math.min(30_000, ttlMs / 10)
    const notAfter = Math.min(now + ttlMs, signer.cert.notAfter.getTime())
    const serial = newSerial()
    const cert = await createLeafCertificate({
      serial, publicKey, issuer: signer, spiffeId, ...names, notBefore: new Date(notBefore), notAfter: new Date(notAfter),
    })
    const issuerSerial = signer.cert.serialNumber.toUpperCase()
    const certNotAfter = cert.notAfter.getTime()
    await store.recordCert({ serial, spiffeId, kind: meta.kind, via: meta.via, issuerSerial, notBefore: cert.notBefore.getTime(), notAfter: certNotAfter, issuedAt: now })
    if (++issuedSincePrune >= 256) {
      issuedSincePrune = 0
      await store.pruneExpired(now - INVENTORY_RETENTION_MS)
    }
    return {
      spiffeId, serial, certificate: cert.toString('pem') + '\n', chain: [signer.certPem], bundle: [signer.rootPem],
      notBefore: cert.notBefore.getTime(), notAfter: certNotAfter,
    }
  }

  return {
    trustDomain,
    store,
    get signer() { return signer },
    /** Keeps `sink` in step with revocation and quarantine from now on. */
    addRevocationSink(sink: RevocationSink): void {
      sinks.add(sink)
      sink.replace(revoked, quarantined)
    },
    sync,
    /** From the view as of the last `sync` (the peer guard syncs first). */
    isRevoked: (serial: string) => revoked.has(serial.toUpperCase()),
    isQuarantined: (spiffeId: string) => quarantined.has(spiffeId),
    /** Asks the store: a quarantine made at another replica a moment ago counts. */
    isQuarantinedNow: (spiffeId: string) => store.isQuarantined(spiffeId),
    /** A leaf for a CSR that passed the policy. */
    issueFromCsr(grant: CsrGrant, via: CertRecord['via']): Promise<IssuedCert> {
      return sign(grant.spiffeId, grant.publicKey, grant, { kind: 'svid', via })
    },
    /** The CA's own serving SVID (`svc/ca` + loopback names), signed directly with the intermediate. */
    async issueServingSvid(names: { dnsNames?: readonly string[]; ipAddresses?: readonly string[] } = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }): Promise<Svid> {
      const keys = await generateKeyPair()
      const issued = await sign(serviceSpiffeId(trustDomain, 'ca'), keys.publicKey, names, { kind: 'serving', via: 'self' })
      return {
        spiffeId: issued.spiffeId, keyPem: await exportPrivateKeyPem(keys.privateKey), certPem: issued.certificate,
        chainPem: issued.chain.join(''), bundlePem: issued.bundle.join(''), notAfter: issued.notAfter, serial: issued.serial,
      }
    },
    async createJoinToken(spiffeId: string, ttlSeconds: number, createdBy: string): Promise<{ token: string; expiresAt: number }> {
      const token = JOIN_TOKEN_PREFIX + randomBytes(32).toString('base64url')
      const createdAt = clock.now()
      const expiresAt = createdAt + ttlSeconds * 1000
      await store.addJoinToken({ hash: hashToken(token), spiffeId, createdAt, expiresAt, createdBy })
      return { token, expiresAt }
    },
    /** Looks a token up by hash; the caller decides, then consumes. */
    async findJoinToken(token: string) {
      const hash = hashToken(token)
      const record = await store.joinToken(hash)
      // The lookup is by hash already; compare again in constant time for good measure.
      if (!record || !timingSafeEqual(Buffer.from(record.hash, 'hex'), Buffer.from(hash, 'hex'))) return undefined
      return record
    },
    consumeJoinToken: (hash: string) => store.consumeJoinToken(hash, clock.now()),
    async revoke(serial: string, reason: string): Promise<'revoked' | 'already' | 'unknown'> {
      const cert = await store.cert(serial)
      if (!cert) return 'unknown'
      if (!(await store.revoke(serial, clock.now(), reason))) return 'already'
      await publish()
      return 'revoked'
    },
    async quarantine(spiffeId: string, by: string): Promise<boolean> {
      const changed = await store.quarantine(spiffeId, clock.now(), by)
      if (changed) await publish()
      return changed
    },
    async release(spiffeId: string): Promise<boolean> {
      const changed = await store.release(spiffeId)
      if (changed) await publish()
      return changed
    },
    /** New intermediate from the root; the old one stays in the bundle while its leaves live. */
    async rotateIntermediate(): Promise<{ serial: string; notAfter: number; previousSerial: string }> {
      const previous = signer
      signer = await rotateIntermediateMaterial(options.paths, { trustDomain, now: clock.now() })
      await store.retireIntermediate(previous.cert.serialNumber.toUpperCase(), previous.certPem, previous.cert.notAfter.getTime(), clock.now())
      await publish()
      return { serial: signer.cert.serialNumber.toUpperCase(), notAfter: signer.cert.notAfter.getTime(), previousSerial: previous.cert.serialNumber.toUpperCase() }
    },
    /** The feed as stored now (any replica's changes included). */
    async bundle() {
      const now = clock.now()
      const version = await sync()
      return {
        trustDomain,
        version,
        roots: [signer.rootPem],
        intermediates: [signer.certPem, ...await store.retiredIntermediates(now)],
        revokedSerials: [...revoked],
        quarantined: [...quarantined],
      }
    },
    /** Resolves on the next change or after `ms`; returns a cancel function. */
    waitForChange(ms: number, done: () => void): () => void {
      let settled = false
      const finish = () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        waiters.delete(finish)
        done()
      }
      const timer = setTimeout(finish, ms)
      waiters.add(finish)
      return finish
    },
    /** True after `wakeAll` (shutdown): long-polls stop waiting. */
    get closed() { return closed },
    /** Wakes every long-poll (shutdown). */
    wakeAll(): void {
      closed = true
      for (const wake of [...waiters]) wake()
    },
  }
}
