// Microsegmentation at the receiving end (NIST SP 800-204 MS-SS-4): the mTLS
// peer's SPIFFE ID must be allowed by policy to call this route —
// `Service::"<spiffe id>"` doing `Action::"call"` on
// `Endpoint::"<service>:<METHOD> <route pattern>"`. Default deny.
import type { Authorizer, AuthzDecision } from '@bulwark/core'
import { parseSpiffeId, serviceNameOf } from '@bulwark/core'
import { decide } from './authorize.ts'
import type { Entity } from './types.ts'

export function endpointId(service: string, method: string, route: string): string {
  return `${service}:${method} ${route}`
}

/** The Cedar entities of a service-to-service call (the principal and the endpoint). */
export function callEntities(peerSpiffeId: string, service: string, method: string, route: string): Entity[] {
  const parsed = parseSpiffeId(peerSpiffeId)
  const isOperator = parsed?.path.startsWith('/operator/') ?? false
  const name = isOperator ? parsed!.path.slice('/operator/'.length) : serviceNameOf(peerSpiffeId) ?? ''
  return [
    { uid: { type: isOperator ? 'Operator' : 'Service', id: peerSpiffeId }, attrs: { name, trustDomain: parsed?.trustDomain ?? '' }, parents: [] },
    { uid: { type: 'Endpoint', id: endpointId(service, method, route) }, attrs: { service, method, route }, parents: [] },
  ]
}

export function checkCall(authorizer: Authorizer, peerSpiffeId: string, service: string, method: string, route: string): AuthzDecision {
  const entities = callEntities(peerSpiffeId, service, method, route)
  return decide(authorizer, {
    principal: entities[0]!.uid,
    action: { type: 'Action', id: 'call' },
    resource: entities[1]!.uid,
    context: {},
    entities,
  })
}
