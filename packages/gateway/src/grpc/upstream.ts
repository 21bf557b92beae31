// The gRPC upstream hop: one HTTP/2 session per upstream over mTLS with the
// gateway's SVID (TLS 1.3), accepting the server only when its certificate's
// SPIFFE ID is the upstream's (hostnames are not identities here) and it is
// not revoked or quarantined. node:http2 rather than undici: gRPC needs
// trailers and per-stream cancellation, which node:http2 exposes directly.
// A session that errors or is told to go away is dropped; a rotated SVID
// retires every session (open streams finish) so new ones present it.
import { connect, type ClientHttp2Session } from 'node:http2'
import type { PeerCertificate } from 'node:tls'
import { NO_REVOCATIONS, spiffeIdOfCertificate, svidContextOptions, type RevocationView, type SvidSource } from '@bulwark/core'

export type GrpcUpstreams = {
  /** The live session to `grpcUrl`, connecting when there is none; `spiffeId` is the only server identity accepted. */
  session(grpcUrl: string, spiffeId: string): ClientHttp2Session
  close(): void
}

export function createGrpcUpstreams(options: { svid: SvidSource; revocation?: RevocationView }): GrpcUpstreams {
  const revocation = options.revocation ?? NO_REVOCATIONS
  const sessions = new Map<string, ClientHttp2Session>()
  const retire = () => {
    for (const session of sessions.values()) session.close()
    sessions.clear()
  }
  const stopRotation = options.svid.onRotate(retire)
  return {
    session(grpcUrl, spiffeId) {
      const key = `${grpcUrl}|${spiffeId}`
      const live = sessions.get(key)
      if (live && !live.closed && !live.destroyed) return live
      const session = connect(grpcUrl, {
        ...svidContextOptions(options.svid.current()),
        minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ALPNProtocols: ['h2'], rejectUnauthorized: true,
        checkServerIdentity: (_host: string, cert: PeerCertificate) => {
          const id = spiffeIdOfCertificate(cert)
          if (!id) return new Error('server certificate carries no SPIFFE ID')
          if (revocation.isRevokedSerial(cert.serialNumber)) return new Error(`server certificate ${cert.serialNumber} is revoked`)
          if (revocation.isBlockedSpiffeId(id)) return new Error(`server \`${id}\` is quarantined`)
          if (id !== spiffeId) return new Error(`server \`${id}\` is not the expected peer`)
          return undefined
        },
      })
      const drop = () => { if (sessions.get(key) === session) sessions.delete(key) }
      // Errors reach the streams opened on this session; here they only retire it.
      session.on('error', drop)
      session.on('goaway', drop)
      session.on('close', drop)
      session.setTimeout(60_000, () => session.close())
      session.unref()
      sessions.set(key, session)
      return session
    },
    close() {
      stopRotation()
      for (const session of sessions.values()) session.destroy()
      sessions.clear()
    },
  }
}
