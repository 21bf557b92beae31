// Slicing: Cedar's cost grows with the number of policies it is handed, so
// each (action, principal type) pair gets its own preparsed set holding only
// the policies whose scope can match it. A policy outside the slice has a
// scope that cannot match the request, so it could neither permit nor forbid:
// the slice decides exactly as the whole set would.
import type { PolicyFacts } from './analyze.ts'

export type SliceShape = {
  /** Policy ids, in set order. */
  ids: string[]
  /** Union of attribute names the slice's policies read. */
  attributes: Set<string>
  usesHierarchy: boolean
  opaque: boolean
}

export type SlicePlan = {
  /** `<action>\u0000<principal type>` -> slice; `<action>\u0000*` holds the policies any type may match. */
  slices: Map<string, SliceShape>
  /** Actions the plan knows; others get the `*` action slices (policies on every action). */
  actions: Set<string>
  /** Action -> its ancestors (action groups), from the schema. */
  actionAncestors: Map<string, string[]>
}

export const ANY = '*'

export function sliceKey(action: string, principalType: string): string {
  return `${action}\u0000${principalType}`
}

function shape(policies: PolicyFacts[]): SliceShape {
  const attributes = new Set<string>()
  for (const p of policies) for (const a of p.attributes) attributes.add(a)
  return {
    ids: policies.map((p) => p.id), attributes,
    usesHierarchy: policies.some((p) => p.usesHierarchy), opaque: policies.some((p) => p.opaque),
  }
}

function matchesAction(facts: PolicyFacts, action: string, ancestors: readonly string[]): boolean {
  if (facts.actions === 'all') return true
  return facts.actions.includes(action) || ancestors.some((a) => (facts.actions as string[]).includes(a))
}

/**
 * Plans the slices. `schemaActions` maps each action the schema declares to
 * its principal types and its groups; without a schema the actions come
 * from the policies themselves.
 */
export function planSlices(facts: readonly PolicyFacts[], schemaActions?: Map<string, { principalTypes: string[]; memberOf: string[] }>): SlicePlan {
  const actions = new Set<string>(schemaActions?.keys() ?? [])
  for (const f of facts) if (f.actions !== 'all') for (const a of f.actions) actions.add(a)
  const actionAncestors = new Map<string, string[]>()
  for (const action of actions) {
    const seen = new Set<string>()
    const queue = [...(schemaActions?.get(action)?.memberOf ?? [])]
    while (queue.length > 0) {
      const next = queue.shift()!
      if (seen.has(next)) continue
      seen.add(next)
      queue.push(...(schemaActions?.get(next)?.memberOf ?? []))
    }
    actionAncestors.set(action, [...seen])
  }
  const slices = new Map<string, SliceShape>()
  const build = (action: string, matching: PolicyFacts[]) => {
    const types = new Set<string>(schemaActions?.get(action)?.principalTypes ?? [])
    for (const f of matching) if (f.principalType) types.add(f.principalType)
    for (const type of types) slices.set(sliceKey(action, type), shape(matching.filter((f) => !f.principalType || f.principalType === type)))
    slices.set(sliceKey(action, ANY), shape(matching.filter((f) => !f.principalType)))
  }
  for (const action of actions) build(action, facts.filter((f) => matchesAction(f, action, actionAncestors.get(action) ?? [])))
  build(ANY, facts.filter((f) => f.actions === 'all'))
  return { slices, actions, actionAncestors }
}

/** The slice for a request: exact action and principal type, else the type-agnostic policies. */
export function findSlice(plan: SlicePlan, action: string, principalType: string): SliceShape {
  const a = plan.actions.has(action) ? action : ANY
  return plan.slices.get(sliceKey(a, principalType)) ?? plan.slices.get(sliceKey(a, ANY))!
}
