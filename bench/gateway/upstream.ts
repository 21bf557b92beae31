// The one upstream every benchmark target proxies to, in its own process:
// plain HTTP for the direct run, nginx and HAProxy; mTLS (TLS 1.3, client
// certificate required) for the gateway. Same handler, same tiny JSON answer.
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttps } from 'node:https'
import type { Svid } from '@bulwark/core'

const body = JSON.stringify({ id: 'o1', status: 'paid', total: 4500, currency: 'USD' })
function handle(req: IncomingMessage, res: ServerResponse) {
  req.resume()
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

process.once('message', (message: { svid: Svid }) => {
  const { svid } = message
  const plain = createHttp({ keepAliveTimeout: 60_000 }, handle)
  const secure = createHttps({
    key: svid.keyPem, cert: `${svid.certPem.trim()}\n${svid.chainPem.trim()}\n`, ca: svid.bundlePem,
    requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', keepAliveTimeout: 60_000,
  }, handle)
  let tlsConnections = 0
  secure.on('secureConnection', () => { tlsConnections++ })
  process.on('message', (m) => { if (m === 'stats') process.send!({ tlsConnections }) })
  plain.listen(0, '127.0.0.1', () => {
    secure.listen(0, '127.0.0.1', () => {
      process.send!({ http: (plain.address() as { port: number }).port, https: (secure.address() as { port: number }).port })
    })
  })
})
process.on('disconnect', () => process.exit(0))
