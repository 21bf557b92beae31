// Takes gRPC calls off the edge listener before Fastify sees them: Fastify's
// HTTP/2 compatibility handler would read and buffer the body and answer
// errors as problem+json, while a gRPC call must stream and be refused in
// trailers. Everything else reaches Fastify's own 'request' listener unchanged.
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { isGrpcRequest } from './edge.ts'

type Listener = (req: Http2ServerRequest, res: Http2ServerResponse) => void

export function interceptGrpc(server: Http2SecureServer, handle: Listener): void {
  const others = server.listeners('request') as Listener[]
  server.removeAllListeners('request')
  server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
    if (isGrpcRequest(req)) return handle(req, res)
    for (const listener of others) listener.call(server, req, res)
  })
}
