// Builders for the requests enforcement points send: the same entity shapes
// the schema (packages/policy/schema/bulwark.cedarschema) declares, so a
// handler never hand-writes Cedar JSON.
import type { AuthzRequest, EntityRef } from '@bulwark/core'
import { parseSpiffeId } from '@bulwark/core'
import type { CedarEntity } from './request-trim.ts'

export type { CedarEntity }

export const ANONYMOUS: EntityRef = { type: 'Anonymous', id: 'anonymous' }

export function ref(type: string, id: string): EntityRef {
  return { type, id }
}

export function entityRef(uid: EntityRef): { __entity: EntityRef } {
  return { __entity: uid }
}

/** `User::"<sub>"`, a member of `Role::"<r>"` for each role. */
export function userEntity(user: { id: string; roles?: readonly string[]; username?: string; locked?: boolean; emailVerified?: boolean; country?: string }): CedarEntity {
  const roles = [...(user.roles ?? [])]
  const attrs: Record<string, unknown> = { roles }
  if (user.username !== undefined) attrs.username = user.username
  if (user.locked !== undefined) attrs.locked = user.locked
  if (user.emailVerified !== undefined) attrs.emailVerified = user.emailVerified
  if (user.country !== undefined) attrs.country = user.country
  return { uid: ref('User', user.id), attrs, parents: roles.map((r) => ref('Role', r)) }
}

export function clientEntity(client: { clientId: string; roles?: readonly string[]; public?: boolean }): CedarEntity {
  const attrs: Record<string, unknown> = { clientId: client.clientId }
  if (client.public !== undefined) attrs.public = client.public
  return { uid: ref('Client', client.clientId), attrs, parents: (client.roles ?? []).map((r) => ref('Role', r)) }
}

/** A workload or the operator, from its SPIFFE ID (`/svc/<name>` or `/operator/<name>`). */
export function workloadEntity(spiffeId: string): CedarEntity {
  const parsed = parseSpiffeId(spiffeId)
  if (!parsed) throw new TypeError(`not a SPIFFE ID: \`${spiffeId}\``)
  const [kind, name = ''] = parsed.path.slice(1).split('/')
  const type = kind === 'operator' ? 'Operator' : 'Service'
  return { uid: ref(type, spiffeId), attrs: { name: kind === 'svc' || kind === 'operator' ? name : parsed.path, trustDomain: parsed.trustDomain }, parents: [] }
}

/** `Endpoint::"<service>:<METHOD> <route pattern>"`. */
export function endpointEntity(service: string, method: string, route: string): CedarEntity {
  const m = method.toUpperCase()
  return { uid: ref('Endpoint', `${service}:${m} ${route}`), attrs: { service, method: m, route }, parents: [] }
}

/** A resource with an `owner` (Order, PaymentMethod, Wallet, UserProfile, OrderBook). */
export function ownedEntity(type: string, id: string, ownerUserId: string, attrs: Record<string, unknown> = {}): CedarEntity {
  return { uid: ref(type, id), attrs: { ...attrs, owner: entityRef(ref('User', ownerUserId)) }, parents: [] }
}

export type RequestContextInput = {
  authenticated: boolean
  mfa?: boolean
  scopes?: readonly string[]
  /** Client IP; becomes Cedar's `ip("…")`. */
  ip?: string
  /** Seconds since the epoch. Decisions reading it are never cached. */
  time?: number
  callerService?: string
}

/** The schema's RequestContext. */
export function requestContext(input: RequestContextInput): Record<string, unknown> {
  const context: Record<string, unknown> = { authenticated: input.authenticated, mfa: input.mfa ?? false, scopes: [...(input.scopes ?? [])] }
  if (input.ip !== undefined) context.ip = { __extn: { fn: 'ip', arg: input.ip } }
  if (input.time !== undefined) context.time = Math.floor(input.time)
  if (input.callerService !== undefined) context.callerService = input.callerService
  return context
}

/** The request a callee checks for a service-to-service call (microsegmentation). */
export function callRequest(peerSpiffeId: string, service: string, method: string, route: string, context: Record<string, unknown> = {}): AuthzRequest {
  const principal = workloadEntity(peerSpiffeId)
  const endpoint = endpointEntity(service, method, route)
  return { principal: principal.uid, action: ref('Action', 'call'), resource: endpoint.uid, context, entities: [principal, endpoint] }
}
