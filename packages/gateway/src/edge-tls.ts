// The public listener's TLS: TLS 1.2+ with ECDHE + AEAD suites only (core's
// EDGE_TLS_OPTIONS), HTTP/2 and HTTP/1.1 by ALPN (RFC 7301), the gateway's own
// SVID (its DNS/IP SANs cover localhost) or a user-provided certificate, and a
// client certificate asked for but never required (RFC 8705 bound tokens).
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { SecureContextOptions } from 'node:tls'
import { EDGE_TLS_OPTIONS, type Svid, type SvidSource } from '@bulwark/core'

export type EdgeTlsConfig = { certFile?: string; keyFile?: string; requestClientCert: boolean }

export function edgeContext(svid: Svid | undefined, config: EdgeTlsConfig): SecureContextOptions {
  const material = config.certFile && config.keyFile
    ? { cert: readFileSync(config.certFile, 'utf8'), key: readFileSync(config.keyFile, 'utf8') }
    : { cert: `${svid!.certPem.trim()}\n${svid!.chainPem.trim()}\n`, key: svid!.keyPem }
  return { ...material, ...(svid ? { ca: svid.bundlePem } : {}), ...EDGE_TLS_OPTIONS }
}

export type EdgeLimits = { maxHeaderBytes: number; maxHeaderCount: number; headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number }

export function edgeServerOptions(source: SvidSource | undefined, config: EdgeTlsConfig, limits: EdgeLimits) {
  return {
    ...edgeContext(source?.current(), config),
    allowHTTP1: true,
    ALPNProtocols: ['h2', 'http/1.1'],
    requestCert: config.requestClientCert,
    rejectUnauthorized: false,
    // HTTP/1.1 parser limits and slow-client timeouts (checked every second, not Node's default 30 s).
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: 1000,
    // HTTP/2: the same header limits, bounded concurrency per connection.
    maxHeaderListPairs: limits.maxHeaderCount + 8,
    maxSessionMemory: 10,
    settings: { maxHeaderListSize: limits.maxHeaderBytes, maxConcurrentStreams: 128, enablePush: false },
  }
}

/** Swaps the edge certificate on every SVID rotation (open connections carry on). Returns an unsubscribe. */
export function rotateEdgeCertificate(server: { setSecureContext(options: SecureContextOptions): void }, source: SvidSource, config: EdgeTlsConfig): () => void {
  if (config.certFile && config.keyFile) return () => {}
  return source.onRotate((svid) => server.setSecureContext(edgeContext(svid, config)))
}

/** A plain-HTTP listener that only redirects to the HTTPS URL (308 keeps the method). */
export function createRedirectServer(publicUrl: string): Server {
  const base = new URL(publicUrl)
  return createServer((req, res) => {
    const url = req.url && req.url.startsWith('/') && !req.url.startsWith('//') ? req.url : '/'
    res.writeHead(308, { location: `${base.origin}${url}`, 'content-length': '0', connection: 'close' })
    res.end()
  })
}
