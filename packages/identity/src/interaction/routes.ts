// Login, MFA, TOTP enrolment and consent pages under /interaction/. Each POST
// carries a CSRF token bound to the interaction (HMAC of its uid) and the
// interaction cookie oidc-provider set; throttling runs before any password
// is checked; every outcome is an audit event.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Interaction } from 'oidc-provider'
import type { IdentityContext } from '../context.ts'
import { emit } from '../context.ts'
import { accountKey, ipKey } from '../users/lockout.ts'
import { USERNAME } from '../store/users.ts'
import { checkTotp, newTotpSecret, totpQrDataUrl, totpUri } from '../users/totp.ts'
import { CSP, STYLESHEET, STYLESHEET_PATH, consentPage, enrolPage, loginPage, messagePage, mfaPage } from './views.ts'
import { clientIpOf } from '../http/forwarded.ts'

type Form = Record<string, unknown>
const str = (v: unknown, max = 1024) => (typeof v === 'string' && v.length <= max ? v : undefined)

function html(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).header('content-security-policy', CSP).header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY').header('referrer-policy', 'no-referrer').type('text/html; charset=utf-8').send(body)
}

export function registerInteractionRoutes(app: FastifyInstance, ctx: IdentityContext): void {
  const base = (uid: string) => `/interaction/${encodeURIComponent(uid)}`

  async function details(request: FastifyRequest, reply: FastifyReply): Promise<Interaction | undefined> {
    try {
      const interaction = await ctx.provider().interactionDetails(request.raw, reply.raw)
      const uid = (request.params as { uid: string }).uid
      return interaction.uid === uid ? interaction : undefined
    } catch {
      return undefined
    }
  }

  function csrfOk(uid: string, form: Form): boolean {
    const given = Buffer.from(str(form.csrf, 200) ?? '')
    const expected = Buffer.from(ctx.csrf(uid))
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  async function finish(request: FastifyRequest, reply: FastifyReply, result: Record<string, unknown>): Promise<FastifyReply> {
    const returnTo = await ctx.provider().interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: false })
    return reply.code(303).header('location', returnTo).header('cache-control', 'no-store').send()
  }

  function clientName(interaction: Interaction): string {
    return String(interaction.params.client_id ?? 'the application')
  }

  /** First-party clients never see a consent screen: their grant is completed here. */
  async function autoConsent(interaction: Interaction, reply: FastifyReply): Promise<FastifyReply> {
    const grantId = await completeGrant(interaction)
    const returnTo = await ctx.provider().interactionResult(reply.request.raw, reply.raw, { consent: { grantId } }, { mergeWithLastSubmission: true })
    return reply.code(303).header('location', returnTo).header('cache-control', 'no-store').send()
  }

  async function completeGrant(interaction: Interaction): Promise<string> {
    const provider = ctx.provider()
    const grant = (interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined)
      ?? new provider.Grant({ accountId: interaction.session!.accountId, clientId: interaction.params.client_id })
    const missing = interaction.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> }
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims)
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '))
    return await grant.save()
  }

  async function render(interaction: Interaction, reply: FastifyReply, error?: string, username?: string, status = 200): Promise<FastifyReply> {
    const uid = interaction.uid
    const csrf = ctx.csrf(uid)
    if (interaction.prompt.name === 'consent' && interaction.params.client_id && (await ctx.clients.get(String(interaction.params.client_id)))?.first_party === true) {
      return autoConsent(interaction, reply)
    }
    if (interaction.prompt.name === 'consent') {
      const scopes = String(interaction.params.scope ?? '').split(' ').filter(Boolean)
      return html(reply, status, consentPage({ action: `${base(uid)}/consent`, abort: `${base(uid)}/abort`, csrf, clientName: clientName(interaction), scopes }))
    }
    const pending = await ctx.mfa.get(uid)
    if (pending?.enrolSecret) {
      const user = await ctx.users.byId(pending.accountId)
      const uri = totpUri(new URL(ctx.issuer).host, user?.username ?? 'user', pending.enrolSecret)
      return html(reply, status, enrolPage({ action: `${base(uid)}/mfa`, csrf, qrDataUrl: await totpQrDataUrl(uri), secret: pending.enrolSecret, error }))
    }
    if (pending) return html(reply, status, mfaPage({ action: `${base(uid)}/mfa`, csrf, error }))
    return html(reply, status, loginPage({ action: `${base(uid)}/login`, csrf, clientName: clientName(interaction), username, error }))
  }

  const expired = (reply: FastifyReply) => html(reply, 400, messagePage('Sign-in expired', 'This sign-in request expired or is not valid. Go back to the application and start again.'))

  app.get(STYLESHEET_PATH, async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET))

  app.get('/interaction/:uid', async (request, reply) => {
    const interaction = await details(request, reply)
    if (!interaction) return expired(reply)
    return render(interaction, reply)
  })

  app.post('/interaction/:uid/login', async (request, reply) => {
    const interaction = await details(request, reply)
    if (!interaction) return expired(reply)
    const form = (request.body ?? {}) as Form
    if (!csrfOk(interaction.uid, form)) return html(reply, 403, messagePage('Form expired', 'Reload the page and try again.'))
    if (interaction.prompt.name !== 'login') return render(interaction, reply)
    const ip = clientIpOf(request)
    const username = (str(form.username, 128) ?? '').trim().toLowerCase()
    const password = str(form.password, 1024) ?? ''
    // Only a well-formed username is recorded: a password typed into the wrong field must not reach the audit log.
    const actor = { kind: 'anonymous' as const, ip, ...(USERNAME.test(username) ? { id: username } : {}) }
    const keys = [accountKey(username), ipKey(ip)]
    const verdict = await ctx.lockout.check(keys)
    if (!verdict.allowed) {
      emit(ctx, { type: 'login.failed', actor, action: 'login', outcome: 'denied', reason: verdict.reason === 'locked' ? 'locked_out' : 'throttled', requestId: String(request.id), details: { retryAfterSeconds: verdict.retryAfterSeconds } })
      reply.header('retry-after', String(verdict.retryAfterSeconds))
      const message = verdict.reason === 'locked' ? 'Too many failed attempts. This sign-in is temporarily locked; try again later.' : `Too many attempts. Wait ${verdict.retryAfterSeconds} seconds and try again.`
      return render(interaction, reply, message, username, 429)
    }
    const user = username ? await ctx.users.byUsername(username) : undefined
    const ok = await ctx.hasher.verify(user?.passwordHash, password)
    if (!ok || !user || user.disabled) {
      const locked = await ctx.lockout.fail(keys)
      emit(ctx, { type: 'login.failed', actor: user ? { kind: 'user', id: user.id, ip } : actor, action: 'login', outcome: 'failure', reason: !user ? 'unknown_user' : user.disabled ? 'disabled' : 'bad_password', requestId: String(request.id) })
      for (const key of locked) emit(ctx, { type: 'account.locked', actor: { kind: 'anonymous', ip }, action: 'lockout', outcome: 'success', resource: key.startsWith('ip:') ? 'ip' : `user:${user?.id ?? username}`, reason: 'too_many_failures', requestId: String(request.id), details: { seconds: ctx.config.lockout.lockSeconds } })
      return render(interaction, reply, 'Invalid username or password.', username, 401)
    }
    if (user.mfaRequired || user.totpEnrolled) {
      await ctx.mfa.put(interaction.uid, { accountId: user.id, ...(user.totpEnrolled ? {} : { enrolSecret: newTotpSecret() }) }, 600)
      emit(ctx, { type: 'login.password_verified', actor: { kind: 'user', id: user.id, ip }, action: 'login', outcome: 'success', reason: 'mfa_required', requestId: String(request.id) })
      return reply.code(303).header('location', base(interaction.uid)).send()
    }
    emit(ctx, { type: 'login.succeeded', actor: { kind: 'user', id: user.id, ip }, action: 'login', outcome: 'success', requestId: String(request.id), details: { mfa: false } })
    return finish(request, reply, { login: { accountId: user.id, amr: ['pwd'], remember: true } })
  })

  app.post('/interaction/:uid/mfa', async (request, reply) => {
    const interaction = await details(request, reply)
    if (!interaction) return expired(reply)
    const form = (request.body ?? {}) as Form
    if (!csrfOk(interaction.uid, form)) return html(reply, 403, messagePage('Form expired', 'Reload the page and try again.'))
    const pending = await ctx.mfa.get(interaction.uid)
    const user = pending ? await ctx.users.byId(pending.accountId) : undefined
    if (!pending || !user) return render(interaction, reply)
    const ip = clientIpOf(request)
    const keys = [accountKey(user.username), ipKey(ip)]
    const verdict = await ctx.lockout.check(keys)
    if (!verdict.allowed) {
      emit(ctx, { type: 'mfa.failed', actor: { kind: 'user', id: user.id, ip }, action: 'mfa', outcome: 'denied', reason: verdict.reason === 'locked' ? 'locked_out' : 'throttled', requestId: String(request.id) })
      reply.header('retry-after', String(verdict.retryAfterSeconds))
      return render(interaction, reply, 'Too many attempts. Try again later.', undefined, 429)
    }
    const secret = pending.enrolSecret ?? await ctx.users.totpSecret(user.id)
    const check = secret ? await checkTotp(secret, str(form.otp, 16)?.trim(), ctx.clock.now(), pending.enrolSecret ? null : user.totpLastStep) : { valid: false }
    const accepted = check.valid && check.timeStep !== undefined && (pending.enrolSecret !== undefined || await ctx.users.acceptTotpStep(user.id, check.timeStep))
    if (!accepted) {
      const locked = await ctx.lockout.fail(keys)
      emit(ctx, { type: 'mfa.failed', actor: { kind: 'user', id: user.id, ip }, action: 'mfa', outcome: 'failure', reason: check.replayed || check.valid ? 'replayed_code' : 'invalid_code', requestId: String(request.id) })
      for (const key of locked) emit(ctx, { type: 'account.locked', actor: { kind: 'anonymous', ip }, action: 'lockout', outcome: 'success', resource: key.startsWith('ip:') ? 'ip' : `user:${user.id}`, reason: 'too_many_failures', requestId: String(request.id) })
      return render(interaction, reply, 'That code is not valid.', undefined, 401)
    }
    if (pending.enrolSecret) {
      await ctx.users.setTotpSecret(user.id, pending.enrolSecret)
      await ctx.users.acceptTotpStep(user.id, check.timeStep!)
      emit(ctx, { type: 'mfa.enrolled', actor: { kind: 'user', id: user.id, ip }, action: 'mfa.enrol', outcome: 'success', requestId: String(request.id) })
    }
    await ctx.mfa.remove(interaction.uid)
    emit(ctx, { type: 'mfa.succeeded', actor: { kind: 'user', id: user.id, ip }, action: 'mfa', outcome: 'success', requestId: String(request.id) })
    emit(ctx, { type: 'login.succeeded', actor: { kind: 'user', id: user.id, ip }, action: 'login', outcome: 'success', requestId: String(request.id), details: { mfa: true } })
    return finish(request, reply, { login: { accountId: user.id, amr: ['pwd', 'otp'], acr: 'urn:bulwark:mfa', remember: true } })
  })

  app.post('/interaction/:uid/consent', async (request, reply) => {
    const interaction = await details(request, reply)
    if (!interaction) return expired(reply)
    if (!csrfOk(interaction.uid, (request.body ?? {}) as Form)) return html(reply, 403, messagePage('Form expired', 'Reload the page and try again.'))
    if (interaction.prompt.name !== 'consent') return render(interaction, reply)
    const grantId = await completeGrant(interaction)
    emit(ctx, { type: 'consent.granted', actor: { kind: 'user', id: interaction.session?.accountId }, action: 'consent', outcome: 'success', resource: `client:${String(interaction.params.client_id)}`, requestId: String(request.id) })
    return finish(request, reply, { consent: { grantId } })
  })

  app.post('/interaction/:uid/abort', async (request, reply) => {
    const interaction = await details(request, reply)
    if (!interaction) return expired(reply)
    if (!csrfOk(interaction.uid, (request.body ?? {}) as Form)) return html(reply, 403, messagePage('Form expired', 'Reload the page and try again.'))
    await ctx.mfa.remove(interaction.uid)
    return finish(request, reply, { error: 'access_denied', error_description: 'the user denied the request' })
  })
}
