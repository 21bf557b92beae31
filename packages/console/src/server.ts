// The console's HTTP side, reached only through the gateway (`/console/*`):
// sign-in and sign-out, the application shell and its assets, and a small
// JSON API for the pages. Every state change needs the session's CSRF token
// (synchronizer token, OWASP) and a same-origin Origin; every answer carries
// a strict CSP with no inline script or style.
import { createServiceServer, type AuditSink, type Clock, type Health, type Logger, type Metrics } from '@bulwark/core'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ServerOptions } from 'node:https'
import formbody from '@fastify/formbody'
import type { ConsoleConfig } from './config.ts'
import { ConsoleErrors } from './errors.ts'
import { LOGIN_COOKIE, SESSION_COOKIE, createSessionStore, csrfMatches, hostCookie, readCookie, type Operator, type Session } from './sessions.ts'
import { createPendingLogins } from './pending.ts'
import type { OidcClient } from './oidc.ts'
import type { Platform } from './platform.ts'
import type { Asset } from './assets.ts'
import { messagePage, shellPage } from './pages.ts'
import { parseAuditQuery, searchAudit } from './audit-search.ts'
import { checkStepUp, planAction, runAction } from './actions.ts'

export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

export type ConsoleDeps = {
  log: Logger
  metrics?: Metrics
  health?: Health
  audit: AuditSink
  clock: Clock
  https?: ServerOptions
  publicUrl: string
  /** Only this mTLS peer (the gateway) may reach the console's pages. */
  gatewaySpiffeId: string
  selfSpiffeId: string
  svidExpiresAt(): number
  oidc: OidcClient
  platform: Platform
  /** Components shown on the overview (the console itself is added). */
  components: readonly string[]
  assets: Map<string, Asset>
}

const isAdmin = (o: Operator) => o.roles.includes('admin') && o.amr.includes('otp')

export function createConsoleServer(config: ConsoleConfig, deps: ConsoleDeps) {
  const { audit, clock, oidc, platform } = deps
  const origin = new URL(deps.publicUrl).origin
  const sessions = createSessionStore({ clock, idleMs: config.idleTimeoutSeconds * 1000, maxMs: config.sessionMaxSeconds * 1000, max: config.maxSessions })
  const pending = createPendingLogins({ clock, max: config.maxSessions })
  const app = createServiceServer({ name: 'console', log: deps.log, metrics: deps.metrics, health: deps.health, https: deps.https ?? null, trustRequestId: true, bodyLimit: 16 * 1024 })
  void app.register(formbody, { bodyLimit: 4096 })

  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/console')) return
    // Pages only through the edge: anyone else on the mesh is refused.
    if (deps.https && request.peer?.spiffeId !== deps.gatewaySpiffeId) throw ConsoleErrors.badRequest('the console is reached through the gateway')
    reply.header('content-security-policy', CSP)
    reply.header('cache-control', 'no-store')
    reply.header('cross-origin-resource-policy', 'same-origin')
    reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()')
  })

  const ip = (request: FastifyRequest) => {
    const forwarded = request.headers['x-forwarded-for']
    const last = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded ?? '').split(',').map((s) => s.trim()).filter(Boolean).pop()
    return (last ?? request.ip).slice(0, 64)
  }
  const html = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/html; charset=utf-8').send(body)
  const cookie = (request: FastifyRequest, name: string) => readCookie(request.headers.cookie, name)
  const sessionOf = (request: FastifyRequest) => sessions.get(cookie(request, SESSION_COOKIE))

  function requireSession(request: FastifyRequest): Session {
    const session = sessionOf(request)
    if (!session) throw ConsoleErrors.signInRequired()
    return session
  }

  /**
   * Synchronizer token plus same-origin checks, on every state change. A form
   * POST under `Referrer-Policy: no-referrer` (the gateway's) carries
   * `Origin: null`, so only another named origin is refused; Fetch Metadata
   * (`Sec-Fetch-Site`), when the browser sends it, must say same-origin.
   */
  function requireCsrf(request: FastifyRequest, session: Session, presented: unknown): void {
    const from = request.headers.origin
    const site = request.headers['sec-fetch-site']
    const ok = csrfMatches(session, presented) && (from === undefined || from === 'null' || from === origin) && (site === undefined || site === 'same-origin')
    if (ok) return
    audit.emit({ type: 'console.request_rejected', actor: { kind: 'user', id: session.operator.sub, ip: ip(request) }, action: `${request.method} ${request.url.split('?')[0]}`.slice(0, 128), outcome: 'denied', reason: ConsoleErrors.csrf.code, requestId: String(request.id) })
    throw ConsoleErrors.csrf()
  }

  async function startSignIn(reply: FastifyReply, stepUp?: { sessionSub: string; action: NonNullable<Session['pendingAction']> }) {
    const start = await oidc.start({ stepUp: stepUp !== undefined })
    const handle = pending.start({ state: start.state, nonce: start.nonce, codeVerifier: start.codeVerifier, ...(stepUp ? { stepUp } : {}) })
    return reply.code(303).header('set-cookie', hostCookie(LOGIN_COOKIE, handle, 600)).header('location', start.url).send()
  }

  app.get('/console', async (_request, reply) => reply.code(308).header('location', '/console/').send())
  app.get('/console/', async (request, reply) => {
    if (!sessionOf(request)) return reply.code(303).header('location', '/console/login').send()
    return html(reply, 200, shellPage())
  })
  app.get('/console/login', async (_request, reply) => startSignIn(reply))

  app.get('/console/callback', async (request, reply) => {
    const login = pending.take(cookie(request, LOGIN_COOKIE))
    reply.header('set-cookie', hostCookie(LOGIN_COOKIE, '', 0))
    const again = [{ href: '/console/login', text: 'Sign in again' }]
    if (!login) return html(reply, 400, messagePage('Sign-in expired', ['This sign-in was not started here or took too long. Start again.'], again))
    let result
    try {
      result = await oidc.finish(new URL(request.url, origin), { ...login, ...(login.stepUp ? { maxAgeSeconds: config.stepUpMaxAgeSeconds } : {}) })
    } catch (error) {
      request.log.warn({ err: (error as Error).message }, 'console sign-in failed')
      audit.emit({ type: 'console.sign_in_failed', actor: { kind: 'anonymous', ip: ip(request) }, action: 'console.sign_in', outcome: 'failure', reason: String((error as { error?: string; code?: string }).error ?? (error as { code?: string }).code ?? 'invalid_response').slice(0, 64), requestId: String(request.id) })
      return html(reply, 400, messagePage('Sign-in failed', ['The identity provider did not complete the sign-in.'], again))
    }
    const { operator } = result
    const actor = { kind: 'user' as const, id: operator.sub, ip: ip(request) }
    if (login.stepUp) return finishStepUp(request, reply, operator, login.stepUp)
    if (!isAdmin(operator)) {
      const reason = operator.roles.includes('admin') ? 'no_second_factor' : 'missing_role'
      audit.emit({ type: 'console.access_denied', actor, action: 'console.sign_in', outcome: 'denied', reason, requestId: String(request.id) })
      const why = reason === 'missing_role'
        ? `You are signed in as ${operator.name}, but the console is only for administrators (role admin).`
        : `You are signed in as ${operator.name} without a second factor; the console needs a sign-in with a TOTP code.`
      return html(reply, 403, messagePage('Not allowed', [why, 'Nothing was opened for you. Sign out at the identity provider, or sign in with another account.'],
        [{ href: await oidc.endSessionUrl(result.idToken), text: 'Sign out' }]))
    }
    const { handle } = sessions.create(operator, result.idToken)
    audit.emit({ type: 'console.signed_in', actor, action: 'console.sign_in', outcome: 'success', requestId: String(request.id), details: { amr: operator.amr.join(' ') } })
    return reply.code(303).header('set-cookie', [hostCookie(LOGIN_COOKIE, '', 0), hostCookie(SESSION_COOKIE, handle)]).header('location', '/console/').send()
  })

  async function finishStepUp(request: FastifyRequest, reply: FastifyReply, signIn: Operator, stepUp: { sessionSub: string; action: NonNullable<Session['pendingAction']> }) {
    const session = sessionOf(request)
    const actor = { kind: 'user' as const, id: signIn.sub, ip: ip(request) }
    if (!session || session.operator.sub !== stepUp.sessionSub || session.pendingAction?.id !== stepUp.action.id) {
      audit.emit({ type: 'console.step_up_denied', actor, action: `incident.${stepUp.action.action}`, resource: `service:${stepUp.action.service}`, outcome: 'denied', reason: 'no_session', requestId: String(request.id) })
      return html(reply, 403, messagePage('Not allowed', ['This confirmation does not belong to an open console session.'], [{ href: '/console/login', text: 'Sign in' }]))
    }
    session.pendingAction = undefined
    const check = checkStepUp(signIn, session.operator.sub, stepUp.action)
    if (!check.ok) {
      audit.emit({ type: 'console.step_up_denied', actor, action: `incident.${stepUp.action.action}`, resource: `service:${stepUp.action.service}`, outcome: 'denied', reason: check.reason, requestId: String(request.id) })
      session.lastAction = { id: stepUp.action.id, action: stepUp.action.action, service: stepUp.action.service, outcome: 'failure', message: `not done: the re-authentication was not accepted (${check.reason})` }
      return reply.code(303).header('location', '/console/#/overview').send()
    }
    const outcome = await runAction(platform, audit, session.operator, stepUp.action, String(request.id))
    session.lastAction = { id: stepUp.action.id, action: stepUp.action.action, service: stepUp.action.service, ...outcome }
    return reply.code(303).header('location', '/console/#/overview').send()
  }

  app.post('/console/logout', async (request, reply) => {
    const handle = cookie(request, SESSION_COOKIE)
    const session = sessions.get(handle)
    if (!session) return reply.code(303).header('location', '/console/signed-out').send()
    requireCsrf(request, session, (request.body as { csrf?: unknown } | undefined)?.csrf)
    sessions.destroy(handle)
    audit.emit({ type: 'console.signed_out', actor: { kind: 'user', id: session.operator.sub, ip: ip(request) }, action: 'console.sign_out', outcome: 'success', requestId: String(request.id) })
    // RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): identity ends its session too.
    return reply.code(303).header('set-cookie', hostCookie(SESSION_COOKIE, '', 0)).header('location', await oidc.endSessionUrl(session.idToken)).send()
  })
  app.get('/console/signed-out', async (_request, reply) => html(reply, 200, messagePage('Signed out', ['You are signed out of the console and of the identity provider.'], [{ href: '/console/login', text: 'Sign in again' }])))

  app.get<{ Params: { name: string } }>('/console/assets/:name', async (request, reply) => {
    const asset = deps.assets.get(request.params.name)
    if (!asset) throw ConsoleErrors.badRequest('no such asset')
    reply.header('cache-control', 'no-cache').header('etag', asset.etag)
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send()
    return reply.type(asset.type).send(asset.body)
  })

  app.get('/console/api/session', async (request) => {
    const session = requireSession(request)
    const lastAction = session.lastAction
    session.lastAction = undefined
    return { operator: { name: session.operator.name, sub: session.operator.sub }, csrf: session.csrf, idleTimeoutSeconds: config.idleTimeoutSeconds, lastAction: lastAction ?? null }
  })

  app.get('/console/api/overview', async (request) => {
    requireSession(request)
    const [components, alerts] = await Promise.all([
      platform.components(),
      platform.alerts().then((a) => ({ ok: true as const, alerts: a }), () => ({ ok: false as const, alerts: [] })),
    ])
    components.push({ name: 'console', spiffeId: deps.selfSpiffeId, healthy: true, quarantined: false, svidExpiresAt: new Date(deps.svidExpiresAt()).toISOString() })
    return { generatedAt: new Date(clock.now()).toISOString(), components, alerts: alerts.alerts, alertsAvailable: alerts.ok }
  })

  app.get('/console/api/audit/events', async (request) => {
    requireSession(request)
    return await searchAudit(platform, parseAuditQuery(request.query as Record<string, unknown>))
  })

  app.get<{ Params: { index: string } }>('/console/api/audit/entries/:index', async (request) => {
    requireSession(request)
    if (!/^\d{1,15}$/.test(request.params.index)) throw ConsoleErrors.badRequest('`index` must be an integer')
    return await platform.inclusion(Number(request.params.index))
  })

  app.post('/console/api/actions', async (request, reply) => {
    const session = requireSession(request)
    requireCsrf(request, session, request.headers['x-csrf-token'])
    const action = planAction(request.body, deps.components, clock)
    session.pendingAction = action
    audit.emit({ type: 'console.action_requested', actor: { kind: 'user', id: session.operator.sub, ip: ip(request) }, action: `incident.${action.action}`, resource: `service:${action.service}`, outcome: 'success', requestId: String(request.id), details: { operator: session.operator.name } })
    return reply.code(202).send({ id: action.id, next: `/console/step-up/${action.id}` })
  })

  app.get<{ Params: { id: string } }>('/console/step-up/:id', async (request, reply) => {
    const session = requireSession(request)
    const action = session.pendingAction
    if (!action || action.id !== request.params.id || clock.now() - action.createdAt > config.stepUpMaxAgeSeconds * 1000) {
      return html(reply, 400, messagePage('Confirmation expired', ['Start the action again from the console.'], [{ href: '/console/', text: 'Back to the console' }]))
    }
    return startSignIn(reply, { sessionSub: session.operator.sub, action })
  })

  return app
}
