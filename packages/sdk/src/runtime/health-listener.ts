// A plain-HTTP listener for the kubelet's probes. A component's own port
// requires a client certificate (mTLS), which an httpGet probe cannot present,
// and an exec probe would start a second Node.js process every period. So
// when the bootstrap asks for it (`healthListen`, set by `bulwark run` on
// Kubernetes) this answers GET `/healthz` (liveness) and `/readyz` (readiness)
// with the status word only, nothing else: no check names, no metrics, no
// other path or method. No NetworkPolicy admits other pods to this port; the
// kubelet on the pod's node can always reach it.
import { createServer, type Server } from 'node:http'
import type { Health } from '@bulwark/core'

export type HealthListener = { server: Server; port: number; close(): Promise<void> }

export async function startHealthListener(health: Health, listen: { host: string; port: number }): Promise<HealthListener> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    const probe = path === '/healthz' ? health.liveness : path === '/readyz' ? health.readiness : undefined
    if (req.method !== 'GET' || !probe) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    probe().then((report) => {
      res.writeHead(report.ok ? 200 : 503, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(report.ok ? 'ok\n' : 'unavailable\n')
    }, () => {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable\n')
    })
  })
  // Probes are tiny: small limits keep the port useless for anything else.
  server.headersTimeout = 5000
  server.requestTimeout = 5000
  server.maxHeadersCount = 32
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  return {
    server,
    port: typeof address === 'object' && address ? address.port : listen.port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}
