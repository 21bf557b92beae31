// Readiness includes the app: a sidecar whose app does not accept connections
// is not ready (the supervisor and `bulwark status` see it, and a kubelet stops
// sending traffic), rather than answering 502 to every request.
import { connect } from 'node:net'

/** True when something accepts TCP connections on 127.0.0.1:port within `timeoutMs`. */
export function isListening(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const done = (ok: boolean) => { socket.destroy(); resolve(ok) }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
