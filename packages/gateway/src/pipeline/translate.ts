// Token translation (DESIGN.md; NIST SP 800-204 MS-SS-10): the caller's token is
// exchanged with identity (RFC 8693 §2.1, grant type token-exchange, client
// `svc-gateway` authenticated by its mTLS certificate, RFC 8705 §2.1) for a
// short-lived token whose audience is the one upstream's SPIFFE ID. Cached
// until shortly before it expires. The caller's token itself never travels on.
import { createHash } from 'node:crypto'
import { request } from '@bulwark/core'
import type { Dispatcher } from 'undici'
import type { Clock } from '@bulwark/core'
import { GatewayErrors } from '../errors.ts'
import type { Stage } from './types.ts'

export type TranslateOptions = {
  /** identity's internal URL and mTLS dispatcher. */
  identity: () => { url: string; dispatcher: Dispatcher }
  /** The SPIFFE ID of an upstream by component name. */
  audienceOf: (upstream: string) => string
  clientId: string
  cacheSize: number
  timeoutMs: number
  clock: Clock
}

type Exchanged = { token: string; expiresAt: number }

const MARGIN_MS = 10_000

export function createTranslateStage(options: TranslateOptions): Stage & { readonly exchanges: number } {
  const cache = new Map<string, Exchanged>()
  const pending = new Map<string, Promise<Exchanged>>()
  let exchanges = 0

  async function exchange(subjectToken: string, audience: string, subjectExp: number): Promise<Exchanged> {
    exchanges++
    const { url, dispatcher } = options.identity()
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience,
      client_id: options.clientId,
    })
    let response
    try {
      response = await request(`${url}/oauth2/token`, {
        method: 'POST', dispatcher, body: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs,
      })
    } catch (error) {
      throw GatewayErrors.exchangeFailed('token exchange with identity failed', { cause: error })
    }
    const body = await response.body.json().catch(() => ({})) as Record<string, unknown>
    // invalid_grant is about the caller's token (revoked, expired): their problem. Anything else
    // (invalid_target, unauthorized_client) is a platform misconfiguration: ours.
    if (response.statusCode === 400 && body.error === 'invalid_grant') {
      throw GatewayErrors.exchangeRefused(`token exchange refused: ${String(body.error)}`)
    }
    if (response.statusCode !== 200 || typeof body.access_token !== 'string') {
      throw GatewayErrors.exchangeFailed(`token exchange answered ${response.statusCode}`)
    }
    const lifetime = typeof body.expires_in === 'number' ? body.expires_in * 1000 : 60_000
    const expiresAt = Math.min(options.clock.now() + lifetime, subjectExp)
    return { token: body.access_token, expiresAt }
  }

  return {
    name: 'translate',
    get exchanges() { return exchanges },
    async run(_req, ctx) {
      const route = ctx.route!
      ctx.upstreamToken = undefined
      if (!route.translate || !ctx.token || !ctx.principal) return
      const audience = options.audienceOf(route.upstream)
      const key = `${createHash('sha256').update(ctx.token).digest('base64url')}|${audience}`
      const now = options.clock.now()
      const hit = cache.get(key)
      if (hit && hit.expiresAt - MARGIN_MS > now) {
        ctx.upstreamToken = hit.token
        return
      }
      cache.delete(key)
      let job = pending.get(key)
      if (!job) {
        const exp = typeof ctx.principal.claims.exp === 'number' ? ctx.principal.claims.exp * 1000 : now + 60_000
        job = exchange(ctx.token, audience, exp).finally(() => pending.delete(key))
        pending.set(key, job)
      }
      const result = await job
      if (options.cacheSize > 0 && result.expiresAt - MARGIN_MS > now) {
        if (cache.size >= options.cacheSize) cache.delete(cache.keys().next().value!)
        cache.set(key, result)
      }
      ctx.upstreamToken = result.token
    },
  }
}
