// The sidecar's inbound side: routes on the secure service whose handler
// forwards to the app. Everything before the handler is createSecureService's
// (duplicate headers, mTLS peer, `call` policy, internal token, revocation,
// audit) and Fastify's (JSON Schema, body limit on parsed bodies); the
// handler adds the per-route Cedar action when one is declared, refuses
// ambiguous paths, swaps the caller's identity headers for verified ones and
// streams the request to 127.0.0.1:appPort and the answer back.
import type { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import { serviceNameOf } from '@bulwark/core'
import { endpointId, type SecureService } from '@bulwark/sdk/service'
import type { SidecarRoute, SidecarSettings } from './config.ts'
import { SidecarErrors } from './errors.ts'
import { answerHeaders, identityHeaders, passableHeaders } from './headers.ts'
import { isAmbiguousPath, relay, requestBody } from './relay.ts'
import type { SeenTokens } from './seen-tokens.ts'

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
/** A re-serialized JSON body gets its own length from undici. */
const PARSED_BODY_DROPS = new Set(['content-length'])

export type InboundDeps = {
  service: string
  settings: SidecarSettings
  app: Dispatcher
  /** Set when egress is on: tokens forwarded to the app, for it to hand back. */
  seen?: SeenTokens
}

function callerOf(request: FastifyRequest): string {
  const spiffeId = request.peer?.spiffeId ?? ''
  return serviceNameOf(spiffeId) ?? spiffeId
}

function forwarder(deps: InboundDeps, route: SidecarRoute | undefined) {
  const { settings, service } = deps
  const origin = `http://127.0.0.1:${settings.appPort}`
  const parsesBody = route?.schema?.body !== undefined
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (isAmbiguousPath(request.url)) throw SidecarErrors.badPath()
    const pattern = request.routeOptions.url ?? '/*'
    if (route?.action) {
      const id = endpointId(service, request.method, pattern)
      request.authorize(route.action, { type: 'Endpoint', id }, {
        entities: [{ uid: { type: 'Endpoint', id }, attrs: { service, method: request.method, route: pattern }, parents: [] }],
      })
    }
    const headers = passableHeaders(request.raw.rawHeaders, parsesBody ? PARSED_BODY_DROPS : undefined)
    identityHeaders(headers, request.auth, callerOf(request), String(request.id), request.accessToken)
    if (request.accessToken && deps.seen) deps.seen.remember(request.accessToken, request.auth.expiresAt)
    let body: string | Readable | undefined
    if (parsesBody) body = request.body === undefined ? undefined : JSON.stringify(request.body)
    else if (request.body !== undefined) body = requestBody(request.body as Readable, request.headers, settings.maxBodyBytes)
    let answer: Awaited<ReturnType<typeof relay>>
    try {
      answer = await relay({
        dispatcher: deps.app, origin, path: request.url, method: request.method, headers, body,
        timeoutMs: settings.timeoutMs, maxResponseBytes: settings.maxResponseBytes, hop: 'the app',
      })
    } catch (error) {
      // A body left half-read cannot be skipped safely on a kept-alive connection: close it after the answer.
      if (typeof body === 'object' && !request.raw.complete) reply.header('connection', 'close')
      throw error
    }
    return reply.code(answer.status).headers(answerHeaders(answer.headers)).send(answer.body)
  }
}

/** Fastify route schemas from a declared route (copies: the settings are frozen, the compiler may annotate). */
function schemaOf(route: SidecarRoute): Record<string, unknown> {
  const schema = route.schema ?? {}
  return structuredClone({
    ...(schema.body ? { body: schema.body } : {}), ...(schema.query ? { querystring: schema.query } : {}), ...(schema.params ? { params: schema.params } : {}),
  })
}

/** Registers the forwarding routes: the declared ones, or `/` and `/*` for every method. */
export function registerInbound(secure: SecureService, deps: InboundDeps): void {
  const routes = deps.settings.routes
  // Bodies of routes without a body schema are never parsed: the raw stream goes to the app.
  secure.register(async (scope: FastifyInstance) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload))
    if (!routes) {
      for (const url of ['/', '/*']) scope.route({ method: [...ALL_METHODS], url, exposeHeadRoute: false, handler: forwarder(deps, undefined) })
      return
    }
    for (const route of routes) {
      if (route.schema?.body !== undefined) continue
      scope.route({
        method: [...route.methods], url: route.path, exposeHeadRoute: false, config: { auth: route.auth }, schema: schemaOf(route),
        handler: forwarder(deps, route),
      })
    }
  })
  // Routes with a body schema: JSON only, parsed under the body limit, validated, forwarded as validated.
  secure.register(async (scope: FastifyInstance) => {
    scope.removeContentTypeParser('text/plain')
    for (const route of routes ?? []) {
      if (route.schema?.body === undefined) continue
      scope.route({
        method: [...route.methods], url: route.path, exposeHeadRoute: false, config: { auth: route.auth }, schema: schemaOf(route),
        handler: forwarder(deps, route),
      })
    }
  })
}
