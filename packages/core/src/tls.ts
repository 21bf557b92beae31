// Mutual TLS for every internal hop: servers demand a client certificate from
// the trust bundle and expose the caller's SPIFFE ID; clients present their
// SVID and check the server's SPIFFE ID instead of a hostname. TLS 1.3 only.
import tls, { type TLSSocket, type PeerCertificate } from 'node:tls'
import type { Server as HttpsServer } from 'node:https'
import type { buildConnector as Connector } from 'undici'
import { Agent, buildConnector } from './http-client.ts'
import { spiffeIdOfCertificate } from './spiffe.ts'
import type { Svid, SvidSource } from './svid.ts'
import { createReplicaSet, replicaInterceptor } from './replica-dispatch.ts'

/** Revocation and quarantine as seen by one process; fed by the CA's bundle feed. */
export type RevocationView = {
  isRevokedSerial(serial: string): boolean
  isBlockedSpiffeId(spiffeId: string): boolean
}

export const NO_REVOCATIONS: RevocationView = { isRevokedSerial: () => false, isBlockedSpiffeId: () => false }

/** A mutable revocation view that the sdk's bundle watcher keeps current. */
export function createRevocationSet(): RevocationView & { replace(serials: Iterable<string>, blocked: Iterable<string>): void } {
  let serials = new Set<string>()
  let blocked = new Set<string>()
  return {
    isRevokedSerial: (serial) => serials.has(serial.toUpperCase()),
    isBlockedSpiffeId: (id) => blocked.has(id),
    replace(nextSerials, nextBlocked) {
      serials = new Set([...nextSerials].map((s) => s.toUpperCase()))
      blocked = new Set(nextBlocked)
    },
  }
}

export type Peer = { spiffeId: string; serial: string }

/** Secure-context material of an SVID: the key, leaf + chain, and the roots to verify peers against. */
export function svidContextOptions(svid: Svid): tls.SecureContextOptions {
  return {
    key: svid.keyPem,
    cert: svid.certPem.trim() + '\n' + svid.chainPem.trim() + '\n',
    ca: svid.bundlePem,
  }
}

const INTERNAL_TLS = { minVersion: 'TLSv1.3' as const, maxVersion: 'TLSv1.3' as const }

/** Options for `https.createServer` / fastify's `https`: mTLS required, TLS 1.3 only. */
export function mtlsServerOptions(source: SvidSource): tls.TlsOptions {
  return { ...svidContextOptions(source.current()), ...INTERNAL_TLS, requestCert: true, rejectUnauthorized: true }
}

const peers = new WeakMap<TLSSocket, Peer | null>()

/** Why a verified chain is still refused, or undefined when the peer is acceptable. */
export function checkPeerCertificate(cert: PeerCertificate | undefined, revocation: RevocationView): string | undefined {
  if (!cert || !cert.raw) return 'no client certificate'
  const spiffeId = spiffeIdOfCertificate(cert)
  if (!spiffeId) return 'certificate carries no single SPIFFE ID URI SAN'
  if (revocation.isRevokedSerial(cert.serialNumber)) return `certificate ${cert.serialNumber} is revoked`
  if (revocation.isBlockedSpiffeId(spiffeId)) return `\`${spiffeId}\` is quarantined`
  return undefined
}

/** The verified peer of an mTLS socket (memoised per connection). */
export function peerOf(socket: TLSSocket): Peer | undefined {
  const cached = peers.get(socket)
  if (cached !== undefined) return cached ?? undefined
  if (!socket.authorized) {
    peers.set(socket, null)
    return undefined
  }
  const cert = socket.getPeerCertificate()
  const spiffeId = spiffeIdOfCertificate(cert)
  const peer = spiffeId ? { spiffeId, serial: cert.serialNumber.toUpperCase() } : undefined
  peers.set(socket, peer ?? null)
  return peer
}

export type AttachMtlsOptions = {
  revocation?: RevocationView
  /** Told about every refused connection, for logs and audit. */
  onReject?: (reason: string, socket: TLSSocket) => void
}

/**
 * Wires an HTTPS server to an SVID source: rotations swap the secure context
 * (new handshakes use the new certificate, open connections carry on), and
 * peers without a SPIFFE ID, or revoked or quarantined, are disconnected.
 * Returns a function that detaches the rotation listener.
 */
export function attachMtls(server: HttpsServer | tls.Server, source: SvidSource, options: AttachMtlsOptions = {}): () => void {
  const revocation = options.revocation ?? NO_REVOCATIONS
  server.on('secureConnection', (socket: TLSSocket) => {
    const reason = socket.authorized ? checkPeerCertificate(socket.getPeerCertificate(), revocation) : String(socket.authorizationError ?? 'unauthorized')
    if (reason) {
      options.onReject?.(reason, socket)
      socket.destroy()
    }
  })
  return source.onRotate((svid) => {
    server.setSecureContext({ ...svidContextOptions(svid), ...INTERNAL_TLS })
  })
}

export type PeerVerifier = (spiffeId: string, target: { hostname: string; port: string }) => boolean

/** A verifier accepting exactly one SPIFFE ID (or any of a list). */
export function expectSpiffeId(...allowed: string[]): PeerVerifier {
  const set = new Set(allowed)
  return (spiffeId) => set.has(spiffeId)
}

export type MtlsAgentOptions = {
  /** Decides whether the server's SPIFFE ID is the one this client meant to reach. */
  verifyPeer: PeerVerifier
  revocation?: RevocationView
  connections?: number
  keepAliveTimeout?: number
  pipelining?: number
  /**
   * Every replica's origin, when the peer runs as several: requests to any of
   * them are spread over all and fail over between them (replica-dispatch.ts).
   */
  replicas?: readonly string[]
}

/**
 * An undici Agent that presents the current SVID on every new connection and
 * accepts a server only when its chain verifies against the bundle and its
 * SPIFFE ID passes `verifyPeer` (hostnames are not identities here).
 */
export function createMtlsAgent(source: SvidSource, options: MtlsAgentOptions): Agent {
  const revocation = options.revocation ?? NO_REVOCATIONS
  const connect: Connector.connector = (opts, callback) => {
    const svid = source.current()
    const target = { hostname: opts.hostname, port: opts.port }
    const connector = buildConnector({
      ...svidContextOptions(svid),
      ...INTERNAL_TLS,
      rejectUnauthorized: true,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const spiffeId = spiffeIdOfCertificate(cert)
        if (!spiffeId) return new Error('server certificate carries no SPIFFE ID')
        if (revocation.isRevokedSerial(cert.serialNumber)) return new Error(`server certificate ${cert.serialNumber} is revoked`)
        if (revocation.isBlockedSpiffeId(spiffeId)) return new Error(`server \`${spiffeId}\` is quarantined`)
        if (!options.verifyPeer(spiffeId, target)) return new Error(`server \`${spiffeId}\` is not the expected peer`)
        return undefined
      },
    } as Connector.BuildOptions)
    return connector(opts, callback)
  }
  const agent = new Agent({
    connect,
    connections: options.connections ?? 64,
    keepAliveTimeout: options.keepAliveTimeout ?? 10_000,
    pipelining: options.pipelining ?? 1,
  })
  if (!options.replicas || options.replicas.length < 2) return agent
  // compose() answers a proxy of the agent itself (close, destroy, stats), with the interceptor in front of dispatch.
  return agent.compose(replicaInterceptor(createReplicaSet(options.replicas))) as Agent
}

/**
 * Edge (public) TLS: TLS 1.2+ with ECDHE key exchange and AEAD ciphers only.
 * TLS 1.3 suites are all AEAD; this list governs TLS 1.2.
 */
export const EDGE_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

export const EDGE_TLS_OPTIONS = {
  minVersion: 'TLSv1.2' as const,
  ciphers: `TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:${EDGE_TLS12_CIPHERS}`,
  honorCipherOrder: true,
}
