// Requests Node's HTTP/1.1 parser refuses before any route runs: conflicting
// Content-Length/Transfer-Encoding (RFC 9112 §6.3: a request smuggling vector),
// oversized or malformed headers, slow clients. Answered as problem+json with
// a request id, audited and counted like every edge refusal, then the
// connection is closed.
import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import type { AuditSink, Metrics } from '@bulwark/core'
import { problemResponse } from './pipeline/response.ts'
import { GatewayErrors } from './errors.ts'

function errorFor(code: string | undefined) {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW': return GatewayErrors.headersTooLarge()
    case 'ERR_HTTP_REQUEST_TIMEOUT': return undefined
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_INVALID_CONTENT_LENGTH':
      return GatewayErrors.badRequest('conflicting or invalid Content-Length/Transfer-Encoding')
    default: return GatewayErrors.badRequest('malformed HTTP request')
  }
}

export function createClientErrorHandler(audit: AuditSink, metrics: Metrics, extraHeaders: Record<string, string>) {
  const rejections = metrics.counter('bulwark_gateway_rejections_total', 'Requests refused, by stage and code', ['stage', 'code'])
  return (error: Error & { code?: string }, socket: Socket) => {
    const mapped = errorFor(error.code)
    if (!socket.writable || !mapped || error.code === 'ECONNRESET') {
      socket.destroy()
      return
    }
    const requestId = randomUUID()
    const problem = problemResponse(mapped, requestId)
    const headers = { ...extraHeaders, ...problem.headers, 'x-request-id': requestId, 'content-length': String(Buffer.byteLength(problem.body)), connection: 'close' }
    const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')
    socket.end(`HTTP/1.1 ${problem.status} ${problem.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n${head}\r\n\r\n${problem.body}`)
    rejections.inc({ stage: 'connection', code: mapped.code })
    audit.emit({
      type: 'request.rejected', actor: { kind: 'anonymous', ip: socket.remoteAddress?.replace(/^::ffff:/, '') },
      action: 'parse', outcome: 'denied', reason: mapped.code, requestId, details: { stage: 'connection', status: problem.status, parser: String(error.code ?? '') },
    })
  }
}
