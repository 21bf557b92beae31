// gRPC over the workload's SVID. grpc-js builds its HTTP/2 server from a
// ServerCredentials object and watches it for new secure-context options
// (server-credentials.ts `updateSecureContextOptions`, which calls
// `setSecureContext` on every bound listener): so a subclass that pushes the
// rotated SVID rotates the gRPC listener like the REST one, without a restart.
// Open connections keep the certificate they were made with, as with REST.
import grpc from '@grpc/grpc-js'
import type { PeerCertificate, SecureContextOptions } from 'node:tls'
import { spiffeIdOfCertificate, svidContextOptions, type RevocationView, type SvidSource } from '@bulwark/core'

const TLS13 = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const

class SvidServerCredentials extends grpc.ServerCredentials {
  readonly stop: () => void
  constructor(source: SvidSource) {
    // requestCert + rejectUnauthorized: a client without a certificate from the bundle never completes the handshake.
    super({ requestCert: true, rejectUnauthorized: true, ...TLS13 }, { ...svidContextOptions(source.current()), ...TLS13 } as SecureContextOptions)
    this.stop = source.onRotate((svid) => this.updateSecureContextOptions({ ...svidContextOptions(svid), ...TLS13 } as SecureContextOptions))
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this
  }
}

/** mTLS server credentials (TLS 1.3, client certificate required) that follow the SVID's rotations. Call `stop()` on close. */
export function svidServerCredentials(source: SvidSource): grpc.ServerCredentials & { stop(): void } {
  return new SvidServerCredentials(source)
}

/**
 * mTLS channel credentials with the current SVID that accept a server only when
 * its SPIFFE ID is `expected` (hostnames are not identities here) and it is not
 * revoked or quarantined. Built per channel: a caller makes a new channel after
 * a rotation (see client.ts).
 */
export function svidChannelCredentials(source: SvidSource, expected: string, revocation?: RevocationView): grpc.ChannelCredentials {
  const svid = source.current()
  return grpc.credentials.createSsl(Buffer.from(svid.bundlePem), Buffer.from(svid.keyPem), Buffer.from(`${svid.certPem.trim()}\n${svid.chainPem.trim()}\n`), {
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const spiffeId = spiffeIdOfCertificate(cert)
      if (!spiffeId) return new Error('server certificate carries no SPIFFE ID')
      if (revocation?.isRevokedSerial(cert.serialNumber)) return new Error(`server certificate ${cert.serialNumber} is revoked`)
      if (revocation?.isBlockedSpiffeId(spiffeId)) return new Error(`server \`${spiffeId}\` is quarantined`)
      if (spiffeId !== expected) return new Error(`server \`${spiffeId}\` is not the expected peer`)
      return undefined
    },
  })
}
