// The floor for any Node.js gateway on this machine: a TLS edge that proxies
// every request to the upstream over the same mTLS agent the gateway uses
// (SPIFFE ID checked), with undici's lean dispatch API and no security work at
// all — no routing table, tokens, policy, limits, validation or metrics. The
// gateway's figures are read against this, as nginx's are against the upstream.
import { createServer } from 'node:https'
import { createMtlsAgent, createSvidSource, EDGE_TLS_OPTIONS, expectSpiffeId, type Svid } from '@bulwark/core'
import { sendUpstream } from '../../packages/gateway/src/upstream-request.ts'

type Start = { svid: Svid; edge: Svid; upstream: { url: string; spiffeId: string } }

process.once('message', (message: Start) => {
  const agent = createMtlsAgent(createSvidSource(message.svid), { verifyPeer: expectSpiffeId(message.upstream.spiffeId), connections: 64 })
  const server = createServer({
    key: message.edge.keyPem, cert: `${message.edge.certPem.trim()}\n${message.edge.chainPem.trim()}\n`, ...EDGE_TLS_OPTIONS, keepAliveTimeout: 60_000,
  }, (req, res) => {
    sendUpstream(agent, { origin: message.upstream.url, path: req.url ?? '/', method: 'GET', headers: { 'x-request-id': 'floor' } }, 256 * 1024).then((answer) => {
      res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type']), 'content-length': String(answer.headers['content-length']) })
      if (Buffer.isBuffer(answer.body)) res.end(answer.body)
      else answer.body.pipe(res)
    }, () => { res.writeHead(502).end() })
  })
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }))
})
process.on('disconnect', () => process.exit(0))
