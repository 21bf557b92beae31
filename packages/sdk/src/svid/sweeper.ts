// Handshakes check revocation once; a kept-alive connection from a peer that
// is revoked or quarantined later would carry on. The sweeper remembers the
// mTLS connections of a server and closes those whose peer is now refused:
// call sweep() after each applied bundle (startBundleWatcher's onBundle).
import type { Server as TlsServer, TLSSocket } from 'node:tls'
import type { Server as HttpsServer } from 'node:https'
import { checkPeerCertificate, type RevocationView } from '@bulwark/core'

export type ConnectionSweeper = {
  /** Destroys connections whose peer the view now refuses; returns how many. */
  sweep(): number
  stop(): void
}

export function createConnectionSweeper(server: HttpsServer | TlsServer, revocation: RevocationView): ConnectionSweeper {
  const sockets = new Set<TLSSocket>()
  const onConnection = (socket: TLSSocket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }
  server.on('secureConnection', onConnection)
  return {
    sweep() {
      let closed = 0
      for (const socket of sockets) {
        if (socket.destroyed) continue
        const cert = socket.getPeerCertificate()
        // Connections without a client certificate are not ours to judge here.
        if (!cert || !cert.raw) continue
        if (checkPeerCertificate(cert, revocation) !== undefined) {
          socket.destroy()
          sockets.delete(socket)
          closed++
        }
      }
      return closed
    },
    stop() {
      server.off('secureConnection', onConnection)
      sockets.clear()
    },
  }
}
