// An in-process Authorizer on Cedar: the set is analysed once, cut into one
// preparsed slice per (action, principal type), and every request is trimmed
// to what its slice reads before Cedar evaluates it. See slices.ts,
// request-trim.ts and decision-cache.ts for why each step keeps decisions
// identical to evaluating the whole set.
import type { AuthzDecision, AuthzRequest, Authorizer } from '@bulwark/core'
import { analyzePolicy, type PolicyFacts } from './analyze.ts'
import { cedar } from './cedar.ts'
import { createDecisionCache } from './decision-cache.ts'
import { decisionKey } from './decision-key.ts'
import { parsePolicyFiles } from './policy-text.ts'
import { trimRequest, type CedarEntity } from './request-trim.ts'
import { findSlice, planSlices, principalAncestry, shape, type SliceEntry, type SliceShape } from './slices.ts'

export type CedarAuthorizerOptions = {
  /** Cedar schema text: supplies each action's principal types and groups. */
  schema?: string
  /** Cedar text, files (name -> text, as from readPolicyPath), or policy id -> one policy (as from parsePolicyFiles). */
  policies: string | Record<string, string>
  version?: string
  /** Decision cache entries (0 disables). Default 10,000. */
  cacheSize?: number
  /** Context keys that make a decision time-dependent: never cached when the slice reads them. */
  volatileContextKeys?: readonly string[]
  /** Trim entities and context to what the slice reads (default true; false only to measure the gain). */
  trim?: boolean
  /** One slice per (action, principal type) (default true; false only to measure the gain). */
  slice?: boolean
  /** Leave out `principal in E` policies whose E is not an ancestor of the principal (default true). */
  gate?: boolean
  /** Role-gated sub-slices preparsed at most (default 512); beyond it the whole slice is used. */
  maxGatedSlices?: number
}

export type CedarAuthorizer = Authorizer & {
  readonly version: string
  readonly policyIds: readonly string[]
  stats(): { evaluations: number; cacheHits: number; cacheSize: number; slices: number }
  /** Releases the preparsed slices held in Cedar's wasm memory. */
  dispose(): void
}

let nextSetId = 0

type Slice = SliceShape & { cedarId?: string }

function schemaActions(schema: string): Map<string, { principalTypes: string[]; memberOf: string[] }> {
  const json = cedar.schemaToJson(schema)
  if (json.type !== 'success') throw new TypeError(`schema: ${json.errors.map((e) => e.message).join('; ')}`)
  const out = new Map<string, { principalTypes: string[]; memberOf: string[] }>()
  for (const [namespace, def] of Object.entries(json.json)) {
    for (const [name, action] of Object.entries(def.actions)) {
      const id = namespace === '' ? name : name
      out.set(id, {
        principalTypes: action.appliesTo?.principalTypes ?? [],
        memberOf: (action.memberOf ?? []).map((m) => m.id),
      })
    }
  }
  return out
}

/**
 * Builds an in-process Authorizer on Cedar. Throws a TypeError when the set
 * does not parse (validate against the schema first: see validatePolicyFiles).
 *
 * @example
 * const authz = createCedarAuthorizer({ schema, policies: readFileSync('shop.cedar', 'utf8') })
 * authz.authorize({ principal: { type: 'User', id: 'alice' }, action: { type: 'Action', id: 'orders.get' }, resource: { type: 'Order', id: 'o1' }, context, entities })
 */
export function createCedarAuthorizer(options: CedarAuthorizerOptions): CedarAuthorizer {
  let policies: Record<string, string>
  const given = options.policies
  // A record is policy id -> one policy (parsePolicyFiles' output) unless some value holds
  // several policies or none: then it is files (name -> Cedar text), as readPolicyPath returns.
  const isIdMap = typeof given !== 'string' && Object.values(given).every((text) => {
    const parts = cedar.policySetTextToParts(text)
    return parts.type === 'success' && parts.policies.length === 1
  })
  if (isIdMap) {
    policies = given as Record<string, string>
  } else {
    const parsed = parsePolicyFiles(typeof given === 'string' ? { policies: given } : given)
    if (parsed.errors.length > 0) throw new TypeError(`policies: ${parsed.errors.map((e) => e.message).join('; ')}`)
    policies = parsed.policies
  }
  const facts: PolicyFacts[] = Object.entries(policies).map(([id, text]) => analyzePolicy(id, text))
  const plan = planSlices(options.slice === false ? facts.map((f) => ({ ...f, actions: 'all' as const, principalType: undefined })) : facts, options.schema ? schemaActions(options.schema) : undefined)
  const version = options.version ?? 'local'
  const setId = `bw${++nextSetId}`
  const preparsed = new Map<string, string>()
  function preparse(ids: readonly string[]): string | undefined {
    if (ids.length === 0) return undefined
    const key = ids.join('\u0000')
    let cedarId = preparsed.get(key)
    if (cedarId) return cedarId
    cedarId = `${setId}:${preparsed.size}`
    const subset: Record<string, string> = {}
    for (const id of ids) subset[id] = policies[id]!
    const answer = cedar.preparsePolicySet(cedarId, { staticPolicies: subset })
    if (answer.type !== 'success') throw new TypeError(`policies: ${answer.errors.map((e) => e.message).join('; ')}`)
    preparsed.set(key, cedarId)
    return cedarId
  }
  // Preparse every whole slice now, so no request pays for parsing; role-gated
  // sub-slices are preparsed on first use, at most maxGatedSlices of them.
  const whole = new Map<SliceEntry, Slice>()
  for (const entry of plan.slices.values()) whole.set(entry, { ...shape(entry.facts), cedarId: preparse(entry.ids) })
  const gatedMemo = new Map<SliceEntry, Map<string, Slice>>()
  const maxGated = options.maxGatedSlices ?? 512
  let gatedCount = 0

  function sliceFor(request: AuthzRequest): Slice {
    const entry = findSlice(plan, request.action.id, request.principal.type)
    const full = whole.get(entry)!
    if (entry.gated.length === 0 || options.gate === false) return full
    const ancestry = principalAncestry(request.principal, (request.entities ?? []) as readonly CedarEntity[])
    let excluded = ''
    for (const g of entry.gated) if (!ancestry.has(g.key)) excluded += `${g.index},`
    if (excluded === '') return full
    let memo = gatedMemo.get(entry)
    if (!memo) gatedMemo.set(entry, memo = new Map())
    const hit = memo.get(excluded)
    if (hit) return hit
    if (gatedCount >= maxGated) return full
    const drop = new Set(excluded.slice(0, -1).split(',').map(Number))
    const facts = entry.facts.filter((_, i) => !drop.has(i))
    const slice: Slice = { ...shape(facts), cedarId: preparse(facts.map((f) => f.id)) }
    memo.set(excluded, slice)
    gatedCount++
    return slice
  }
  const actionEntities = new Map<string, CedarEntity[]>()
  for (const [action, ancestors] of plan.actionAncestors) {
    if (ancestors.length === 0) continue
    // Every ancestor as a direct parent: Cedar's `in` is transitive, so the closure is the same.
    actionEntities.set(action, [{ uid: { type: 'Action', id: action }, attrs: {}, parents: ancestors.map((id) => ({ type: 'Action', id })) }])
  }
  const cacheSize = options.cacheSize ?? 10_000
  const cache = createDecisionCache(cacheSize)
  const volatile = options.volatileContextKeys ?? ['time']
  let evaluations = 0
  let cacheHits = 0
  let disposed = false
  const empty: AuthzDecision = Object.freeze({ decision: 'deny', reasons: [], errors: [], policyVersion: version }) as AuthzDecision

  function evaluate(request: AuthzRequest, slice: Slice): AuthzDecision {
    const trimmed = trimRequest(request, options.trim === false ? { ...slice, opaque: true } : slice, actionEntities.get(request.action.id) ?? [])
    const key = cacheSize > 0 && !volatile.some((k) => k in trimmed.context) ? decisionKey(request, trimmed, slice, slice.cedarId!) : undefined
    const cacheable = key !== undefined
    if (cacheable) {
      const hit = cache.get(key!)
      if (hit) {
        cacheHits++
        return hit
      }
    }
    evaluations++
    const answer = cedar.statefulIsAuthorized({
      principal: request.principal, action: request.action, resource: request.resource,
      context: trimmed.context as never, entities: trimmed.entities as never, preparsedPolicySetId: slice.cedarId!,
    })
    let decision: AuthzDecision
    if (answer.type === 'success') {
      const errors = answer.response.diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`)
      decision = Object.freeze({
        decision: errors.length > 0 ? 'deny' : answer.response.decision,
        reasons: answer.response.diagnostics.reason, errors, policyVersion: version,
      }) as AuthzDecision
      if (cacheable && errors.length === 0) cache.set(key!, decision)
    } else {
      decision = { decision: 'deny', reasons: [], errors: answer.errors.map((e) => e.message), policyVersion: version }
    }
    return decision
  }

  return {
    version,
    policyIds: Object.keys(policies),
    authorize(request) {
      if (disposed) return { decision: 'deny', reasons: [], errors: ['authorizer disposed'], policyVersion: version }
      try {
        const slice = sliceFor(request)
        return slice.cedarId === undefined ? empty : evaluate(request, slice)
      } catch (error) {
        // Fail closed: a malformed request or an engine fault is a deny with the reason.
        return { decision: 'deny', reasons: [], errors: [`evaluation failed: ${(error as Error).message}`], policyVersion: version }
      }
    },
    stats: () => ({ evaluations, cacheHits, cacheSize: cache.size, slices: preparsed.size }),
    dispose() {
      if (disposed) return
      disposed = true
      // Cedar has no "forget": overwrite each slice with an empty set to release its memory.
      for (const id of preparsed.values()) cedar.preparsePolicySet(id, { staticPolicies: {} })
    },
  }
}
