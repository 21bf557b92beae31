// Access control: who may do what to which secret path or transit key.
// Default deny. The local rule engine implements core's `Authorizer`, so a
// Cedar-backed Authorizer (principal `Service`/`Operator`, action
// `Action::"kv.read"`, resource `Secret`/`TransitKey`/`VaultSystem`) can
// replace it without touching the routes.
import { serviceNameOf, type Authorizer, type AuthzDecision, type AuthzRequest } from '@bulwark/core'
import type { AclRule } from './config.ts'

export const KV_ACTIONS = ['kv.read', 'kv.write', 'kv.list', 'kv.delete', 'kv.undelete', 'kv.destroy', 'kv.metadata'] as const
export const TRANSIT_ACTIONS = ['transit.encrypt', 'transit.decrypt', 'transit.rewrap', 'transit.hmac', 'transit.blind-index', 'transit.read', 'transit.create', 'transit.rotate', 'transit.configure', 'transit.delete'] as const
export const SYSTEM_ACTIONS = ['system.rotate-kek', 'system.rotate-transit', 'system.rewrap', 'system.status'] as const

const PREFIX: Record<string, string> = { Secret: 'secret:', TransitKey: 'transit:', VaultSystem: 'system:' }

/** `*` matches within one `/` segment, `**` across segments; everything else literally. */
export function globMatch(pattern: string, text: string): boolean {
  // Dynamic programming over (pattern position, text position): linear in each, no regex built from input.
  const tokens: string[] = []
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '*' && pattern[i + 1] === '*') { tokens.push('**'); i++ } else tokens.push(pattern[i]!)
  }
  let row = new Array<boolean>(text.length + 1).fill(false)
  row[0] = true
  for (const token of tokens) {
    const next = new Array<boolean>(text.length + 1).fill(false)
    if (token === '**' || token === '*') {
      for (let j = 0; j <= text.length; j++) {
        next[j] = row[j]! || (j > 0 && next[j - 1]! && (token === '**' || text[j - 1] !== '/'))
      }
    } else {
      for (let j = 1; j <= text.length; j++) next[j] = row[j - 1]! && text[j - 1] === token
    }
    row = next
  }
  return row[text.length]!
}

function actionMatches(pattern: string, action: string): boolean {
  if (pattern === '*') return true
  if (pattern.endsWith('.*')) return action.startsWith(pattern.slice(0, -1))
  return pattern === action
}

/** The rules used when config gives none: operators everything, services their own space. */
export function defaultRules(trustDomain: string, shopServices: readonly string[]): AclRule[] {
  const td = trustDomain
  const use = ['transit.encrypt', 'transit.decrypt', 'transit.rewrap', 'transit.hmac', 'transit.blind-index', 'transit.read', 'transit.create', 'transit.delete']
  return [
    { principal: `spiffe://${td}/operator/*`, actions: ['*'], resources: ['secret:**', 'transit:**', 'system:**'] },
    ...(shopServices.length > 0 ? [
      { principal: `spiffe://${td}/svc/{service}`, services: [...shopServices], actions: ['kv.read', 'kv.list', 'kv.metadata'], resources: ['secret:shop/{service}/**'] },
      { principal: `spiffe://${td}/svc/{service}`, services: [...shopServices], actions: use, resources: ['transit:shop-*'] },
    ] : []),
    // A service's own space: it may keep secrets it generates itself (cookie keys, peppers).
    { principal: `spiffe://${td}/svc/{service}`, actions: ['kv.read', 'kv.list', 'kv.metadata', 'kv.write', 'kv.delete'], resources: ['secret:svc/{service}/**'] },
    { principal: `spiffe://${td}/svc/{service}`, actions: use, resources: ['transit:{service}', 'transit:{service}-*'] },
  ]
}

/** An Authorizer over local rules: allow when any rule matches principal, action and resource. Decisions are memoised (the rules are fixed). */
export function createRuleAuthorizer(rules: readonly AclRule[], version = 'local'): Authorizer {
  const memo = new Map<string, AuthzDecision>()
  function evaluate(principal: string, action: string, resource: string | undefined): AuthzDecision {
    const service = serviceNameOf(principal)
    const index = resource === undefined ? -1 : rules.findIndex((rule) => {
      const needsService = rule.principal.includes('{service}') || rule.resources.some((r) => r.includes('{service}'))
      if (needsService && (!service || (rule.services && !rule.services.includes(service)))) return false
      const bind = (s: string) => (service ? s.replaceAll('{service}', service) : s)
      return rule.actions.some((a) => actionMatches(a, action)) &&
        globMatch(bind(rule.principal), principal) &&
        rule.resources.some((r) => globMatch(bind(r), resource))
    })
    return Object.freeze({ decision: index >= 0 ? 'allow' : 'deny', reasons: index >= 0 ? [`rule${index}`] : [], errors: [], policyVersion: version })
  }
  return {
    authorize(request: AuthzRequest): AuthzDecision {
      const prefix = PREFIX[request.resource.type]
      const resource = prefix ? `${prefix}${request.resource.id}` : undefined
      const key = `${request.principal.id}\u0000${request.action.id}\u0000${resource ?? ''}`
      let decision = memo.get(key)
      if (!decision) {
        decision = evaluate(request.principal.id, request.action.id, resource)
        if (memo.size >= 10_000) memo.clear()
        memo.set(key, decision)
      }
      return decision
    },
  }
}
