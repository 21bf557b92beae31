// Egress: the app's way out, `http://127.0.0.1:<egressPort>/<service>/<path>`.
// Listens on loopback only. For each request the sidecar
//   1. refuses a repeated single header (as the sdk does inbound);
//   2. refuses an ambiguous path and a target that is not a peer, is itself,
//      or is a control-plane component the sidecar alone talks to;
//   3. takes the app's `Authorization: Bearer <token>` only when that token is
//      one it verified and forwarded to the app and it has not expired
//      (seen-tokens.ts), then exchanges it at identity for one addressed to the
//      target (RFC 8693, the sdk's token exchange: identity decides whether
//      this service may reach that one); no Authorization: the call goes
//      without a user token, as the workload itself;
//   4. calls the target over mTLS with this workload's SVID, checking the
//      target's SPIFFE ID; the target's `call` policy decides the rest.
// Every refusal of its own is an audit event and a problem+json answer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import { isBulwarkError, PROBLEM_CONTENT_TYPE, toProblem } from '@bulwark/core'
import type { ComponentRuntime } from '@bulwark/sdk/runtime'
import { findRepeatedHeader, ServiceErrors, type TokenExchange } from '@bulwark/sdk/service'
import type { SidecarSettings } from './config.ts'
import { SidecarErrors } from './errors.ts'
import { answerHeaders, passableHeaders } from './headers.ts'
import { isAmbiguousPath, relay, requestBody } from './relay.ts'
import type { SeenTokens } from './seen-tokens.ts'

/** The platform's own components: the sidecar reaches them for itself; the app has no business there. */
const CONTROL_PLANE = new Set(['ca', 'identity', 'policy', 'audit', 'gateway'])
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,31}$/
const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/
const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/

/** `/<service>/<path>?<query>` to the service name and the path (with its query) to call it with. */
function parseTarget(url: string): { name: string; path: string } | undefined {
  if (!url.startsWith('/') || url.includes('#')) return undefined
  const rest = url.slice(1)
  const cut = rest.search(/[/?]/)
  const name = cut === -1 ? rest : rest.slice(0, cut)
  if (!SERVICE_NAME.test(name)) return undefined
  const tail = cut === -1 ? '' : rest.slice(cut)
  return { name, path: tail.startsWith('/') ? tail : `/${tail}` }
}

export type EgressDeps = {
  rt: ComponentRuntime
  settings: SidecarSettings
  seen: SeenTokens
  exchange: () => TokenExchange
}

export type Egress = { server: Server; port: number; close(): Promise<void> }

function send(res: ServerResponse, error: unknown, requestId: string): void {
  if (res.headersSent) { res.destroy(); return }
  const problem = toProblem(error, requestId)
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE, 'x-request-id': requestId }
  if (isBulwarkError(error)) Object.assign(headers, error.headers)
  res.writeHead(problem.status, headers).end(JSON.stringify(problem))
}

export async function startEgress(deps: EgressDeps): Promise<Egress> {
  const { rt, settings, seen } = deps
  const self = rt.bootstrap.component
  const actor = { kind: 'service' as const, spiffeId: rt.bootstrap.spiffeId }

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const repeated = findRepeatedHeader(req.rawHeaders, false)
    if (repeated !== undefined) throw ServiceErrors.duplicateHeader(`request header \`${repeated}\` appears more than once`)
    const url = req.url ?? ''
    const target = parseTarget(url)
    if (!target || isAmbiguousPath(url)) throw SidecarErrors.badPath('egress paths are `/<service>/<path>`, without dot segments or encoded slashes')
    const { name, path } = target
    const action = `${req.method} ${name}`
    if (name === self || CONTROL_PLANE.has(name) || !rt.bootstrap.peers[name]) {
      rt.audit.emit({ type: 'egress.denied', actor, action, resource: name, outcome: 'denied', reason: 'BW_SIDECAR_EGRESS_TARGET', requestId })
      throw SidecarErrors.egressTarget(`no service \`${name}\` to call through egress`)
    }
    const peer = rt.peer(name)
    const headers = passableHeaders(req.rawHeaders)
    headers.push('x-request-id', requestId)
    const authorization = req.headers.authorization
    if (authorization !== undefined) {
      const bearer = authorization.length <= 8192 ? BEARER.exec(authorization) : null
      if (!bearer || !seen.has(bearer[1]!)) {
        rt.audit.emit({ type: 'token.rejected', actor, action, resource: name, outcome: 'failure', reason: 'BW_SIDECAR_EGRESS_TOKEN', requestId })
        throw SidecarErrors.egressToken()
      }
      try {
        headers.push('authorization', `Bearer ${await deps.exchange().exchange(bearer[1]!, peer.spiffeId, requestId)}`)
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'BW_EXCHANGE_FAILED'
        rt.audit.emit({ type: 'egress.denied', actor, action, resource: name, outcome: code === 'BW_EXCHANGE_REFUSED' ? 'denied' : 'error', reason: code, requestId })
        throw error
      }
    }
    const answer = await relay({
      dispatcher: peer.dispatcher, origin: peer.url, path, method: req.method ?? 'GET', headers,
      body: requestBody(req, req.headers, settings.maxBodyBytes),
      timeoutMs: settings.timeoutMs, maxResponseBytes: settings.maxResponseBytes, hop: `\`${name}\``,
    })
    res.writeHead(answer.status, { ...answerHeaders(answer.headers), 'x-request-id': requestId })
    await pipeline(answer.body, res)
  }

  const server = createServer({ requestTimeout: settings.timeoutMs, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    const given = req.headers['x-request-id']
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    handle(req, res, requestId).catch((error: unknown) => {
      if (!isBulwarkError(error) || !error.expose) rt.log.error({ err: error, requestId }, 'egress request failed')
      send(res, error, requestId)
    })
  })
  // Loopback only, always: egress acts with this workload's identity.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(settings.egressPort ?? 0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const port = (server.address() as { port: number }).port
  return {
    server, port,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
