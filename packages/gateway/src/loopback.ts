// `localhost` means 127.0.0.1 and ::1 (DESIGN: "from any loopback address"),
// but a resolver that knows only one of them (an /etc/hosts without `::1
// localhost`) makes a `localhost` listener bind one family. When the edge is
// bound to exactly one loopback address, this also accepts on the other and
// hands each socket to the same TLS server.
import { createServer, type AddressInfo, type Server } from 'node:net'
import type { FastifyInstance } from 'fastify'

const LOOPBACKS = ['127.0.0.1', '::1']

/** `reusePort`: gateway replicas share the port, on both loopback addresses. */
export function listenOnBothLoopbacks(app: FastifyInstance, log: { warn(o: object, m: string): void }, reusePort = false): () => Promise<void> {
  const extra: Server[] = []
  app.addHook('onListen', async () => {
    const addresses = app.addresses() as AddressInfo[]
    const bound = addresses.map((a) => a.address)
    if (bound.length !== 1 || !LOOPBACKS.includes(bound[0]!)) return
    const port = addresses[0]!.port
    const other = bound[0] === '127.0.0.1' ? '::1' : '127.0.0.1'
    const forwarder = createServer((socket) => app.server.emit('connection', socket))
    await new Promise<void>((resolve) => {
      forwarder.once('error', (error) => {
        log.warn({ host: other, port, err: error.message }, 'cannot also listen on the other loopback address')
        resolve()
      })
      forwarder.listen({ port, host: other, ...(reusePort ? { reusePort: true } : {}) }, () => {
        extra.push(forwarder)
        resolve()
      })
    })
  })
  return async () => {
    await Promise.all(extra.map((s) => new Promise((resolve) => s.close(resolve))))
  }
}
