// Rate limit: GCRA per client IP (requests without a recently verified token),
// per OAuth client and per user (after authentication), and per route; plus
// the temporary block list fed by the audit service's detectors. Refusals are
// 429 with Retry-After (RFC 9110 §10.2.3); every answer carries RateLimit and
// RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers) for the tightest rule.
import type { Clock } from '@bulwark/core'
import { GatewayErrors } from '../errors.ts'
import type { RateLimitResult, RateLimitRule, RateLimitStore } from '../rate-limit-store.ts'
import type { BlockList } from '../feeds/blocks.ts'
import type { GatewayRequest, RequestContext, Stage } from './types.ts'

export type RateLimitStageOptions = {
  /** `ip` runs before authentication, `identity` after it. */
  phase: 'ip' | 'identity'
  enabled: boolean
  anonymous: { rate: number; burst: number }
  client: { rate: number; burst: number }
  user: { rate: number; burst: number }
  store: RateLimitStore
  clock: Clock
  blocks?: BlockList
  /** True when the request's bearer token was verified recently (it is then limited per client, not per IP). */
  hasKnownToken?: (req: GatewayRequest) => boolean
}

function policyHeaders(ctx: RequestContext, rule: RateLimitRule, result: RateLimitResult): void {
  const window = Math.max(1, Math.round(rule.burst / rule.rate))
  ctx.responseHeaders['ratelimit-policy'] = `"${rule.name}";q=${rule.burst};w=${window}`
  ctx.responseHeaders['ratelimit'] = `"${rule.name}";r=${result.remaining};t=${Math.ceil(result.resetMs / 1000)}`
}

function blockedError(kind: string, retryMs: number) {
  const seconds = String(Math.max(1, Math.ceil(retryMs / 1000)))
  return GatewayErrors.blocked(`${kind} is temporarily blocked`, { headers: { 'retry-after': seconds } })
}

export function createRateLimitStage(options: RateLimitStageOptions): Stage {
  const { store, clock } = options
  const rules = {
    anonymous: { name: 'anonymous', ...options.anonymous },
    client: { name: 'client', ...options.client },
    user: { name: 'user', ...options.user },
  }
  async function apply(ctx: RequestContext, checks: Array<[string, RateLimitRule]>): Promise<void> {
    const now = clock.now()
    let tightest: [RateLimitRule, RateLimitResult] | undefined
    for (const [key, rule] of checks) {
      const result = await store.consume(key, rule, now)
      if (!result.allowed) {
        policyHeaders(ctx, rule, result)
        throw GatewayErrors.rateLimited(`rate limit \`${rule.name}\` exceeded`, {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(result.retryAfterMs / 1000))) },
          extensions: { policy: rule.name },
        })
      }
      if (!tightest || result.remaining < tightest[1].remaining) tightest = [rule, result]
    }
    if (tightest) policyHeaders(ctx, tightest[0], tightest[1])
  }
  return {
    name: options.phase === 'ip' ? 'rate-limit' : 'rate-limit-identity',
    async run(req, ctx) {
      const now = clock.now()
      const route = ctx.route
      const checks: Array<[string, RateLimitRule]> = []
      if (options.phase === 'ip') {
        const blocked = options.blocks?.remainingMs('ip', ctx.clientIp, now)
        if (blocked) throw blockedError(`address \`${ctx.clientIp}\``, blocked)
        if (!options.enabled) return
        if (!options.hasKnownToken?.(req)) checks.push([`ip:${ctx.clientIp}`, rules.anonymous])
        if (route?.rateLimit && !ctx.principal && (route.public || !req.headers.authorization)) {
          checks.push([`route:${route.id}:ip:${ctx.clientIp}`, { name: `route-${route.id}`, ...route.rateLimit }])
        }
        return apply(ctx, checks)
      }
      const principal = ctx.principal
      if (!principal) return
      const blocks = options.blocks
      const blocked = blocks && (blocks.remainingMs('client', principal.clientId, now) || blocks.remainingMs('subject', principal.subject, now))
      if (blocked) throw blockedError(`client \`${principal.clientId}\``, blocked)
      if (!options.enabled) return
      checks.push([`client:${principal.clientId}`, rules.client])
      if (principal.kind === 'user') checks.push([`user:${principal.subject}`, rules.user])
      if (route?.rateLimit) checks.push([`route:${route.id}:sub:${principal.subject}`, { name: `route-${route.id}`, ...route.rateLimit }])
      return apply(ctx, checks)
    },
  }
}
