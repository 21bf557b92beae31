// Resource indicators (RFC 8707): every access token is an RFC 9068 JWT for
// exactly one audience. User and client tokens default to the gateway's
// SPIFFE ID (the edge resource server); workloads may name another service
// they are allowed to reach.
import { errors } from 'oidc-provider'
import type { ClientMetadata } from '../store/clients.ts'

export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'] as const
const OIDC = new Set<string>(OIDC_SCOPES)

export type ResourcePolicy = {
  trustDomain: string
  alg: string
  accessTokenTtl: number
  exchange: Record<string, readonly string[]>
}

export const gatewayAudience = (trustDomain: string) => `spiffe://${trustDomain}/svc/gateway`

/** `svc-<name>` -> `<name>` for workload clients. */
export function workloadName(clientId: string | undefined): string | undefined {
  const match = clientId ? /^svc-([a-z][a-z0-9-]{0,31})$/.exec(clientId) : null
  return match ? match[1] : undefined
}

/** `spiffe://<td>/svc/<name>` -> `<name>` when it is in our trust domain. */
export function targetService(trustDomain: string, audience: unknown): string | undefined {
  if (typeof audience !== 'string') return undefined
  const prefix = `spiffe://${trustDomain}/svc/`
  if (!audience.startsWith(prefix)) return undefined
  const name = audience.slice(prefix.length)
  return /^[a-z][a-z0-9-]{0,31}$/.test(name) ? name : undefined
}

export function apiScopes(scope: string | undefined): string[] {
  return (scope ?? '').split(' ').filter((s) => s.length > 0 && !OIDC.has(s))
}

export function resourceServerInfo(policy: ResourcePolicy, indicator: string, client: { clientId: string; scope?: string; metadata?: () => ClientMetadata }) {
  const gateway = gatewayAudience(policy.trustDomain)
  const base = { audience: indicator, accessTokenTTL: policy.accessTokenTtl, accessTokenFormat: 'jwt' as const, jwt: { sign: { alg: policy.alg } } }
  if (indicator === gateway) return { ...base, scope: apiScopes(client.scope).join(' ') }
  const caller = workloadName(client.clientId)
  const target = targetService(policy.trustDomain, indicator)
  if (caller && target && (policy.exchange[caller] ?? []).includes(target)) return { ...base, scope: apiScopes(client.scope).join(' ') }
  throw new errors.InvalidTarget(`resource \`${indicator.slice(0, 200)}\` is not available to this client`)
}
