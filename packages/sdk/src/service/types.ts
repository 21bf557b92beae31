// What a secured service sees of each caller.
import type { AuthzDecision, EntityRef } from '@bulwark/core'

/** An `act` claim (RFC 8693 §4.1): the workload that acted, and who acted before it. */
export type ActorChain = { sub: string; act?: ActorChain }

/** The verified caller of a request: the end user (or client) and the workloads in between. */
export type AuthContext = {
  /** False only on routes that allow anonymous callers and got no token. */
  authenticated: boolean
  sub: string
  clientId?: string
  roles: string[]
  scopes: string[]
  /** The token shows a second factor (`amr`). */
  mfa: boolean
  act?: ActorChain
  /** Service name of the workload that exchanged the token for us (`act.sub`), e.g. `gateway`. */
  callerService?: string
  /** The Cedar principal: `User::"<sub>"`, `Client::"<client_id>"` or `Anonymous::"anonymous"`. */
  principal: EntityRef
  /** Token id and expiry, for logs and caches (never the token itself). */
  jti?: string
  expiresAt?: number
}

/** A Cedar entity in the JSON form the Authorizer takes. */
export type Entity = { uid: EntityRef; attrs: Record<string, unknown>; parents: EntityRef[] }

export type AuthorizeOptions = {
  /** Entities the decision may need (the resource with its `owner`, …). The principal is added for you. */
  entities?: Entity[]
  /** Extra context keys (must be allowed by the action's context type in the schema). */
  context?: Record<string, unknown>
  /** Answer a deny with 404 instead of 403, so a resource's existence does not leak (BOLA). */
  denyAs?: 'forbidden' | 'not-found'
}

export type AuthorizeFn = (action: string, resource: EntityRef, options?: AuthorizeOptions | Entity[]) => AuthzDecision

/** Route options a secured service understands (Fastify `config`). */
export type SecureRouteConfig = {
  /** `required` (default): a valid internal token; `optional`: anonymous callers allowed when no token is sent. */
  auth?: 'required' | 'optional'
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller (see AuthContext). */
    auth: AuthContext
    /** The raw internal token, for onward token exchange. Never log it. */
    accessToken: string | undefined
    /** Asks the Cedar Authorizer; throws 403 (or 404) on deny and audits the denial. */
    authorize: AuthorizeFn
  }
  interface FastifyContextConfig {
    auth?: 'required' | 'optional'
  }
}

/** `{__entity: {type, id}}`: an entity reference inside Cedar attributes. */
export function ref(type: string, id: string): { __entity: EntityRef } {
  return { __entity: { type, id } }
}

/** A Cedar entity for `AuthorizeOptions.entities`. */
export function entity(type: string, id: string, attrs: Record<string, unknown> = {}, parents: EntityRef[] = []): Entity {
  return { uid: { type, id }, attrs, parents }
}
