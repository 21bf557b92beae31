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
  /** Entity types some policy of the slice names by a literal. */
  literalTypes: Set<string>
}

/**
 * A slice plus, for the policies whose scope is `principal in E`, which E
 * each needs: a request whose principal is not E and has no ancestor E
 * cannot match them, so they are left out for it (see gateSlice).
 */
export type SliceEntry = SliceShape & {
  facts: PolicyFacts[]
  /** Indexes into `facts` of the gated policies, with `<type>\u0000<id>` of their E. */
  gated: Array<{ index: number; key: string }>
}

export type SlicePlan = {
  /** `<action>\u0000<principal type>` -> slice; `<action>\u0000*` holds the policies any type may match. */
  slices: Map<string, SliceEntry>
  /** Actions the plan knows; others get the `*` action slices (policies on every action). */
  actions: Set<string>
  /** Action -> its ancestors (action groups), from the schema. */
  actionAncestors: Map<string, string[]>
}

export const ANY = '*'

export function sliceKey(action: string, principalType: string): string {
  return `${action}\u0000${principalType}`
}

export function shape(policies: readonly PolicyFacts[]): SliceShape {
  const attributes = new Set<string>()
  const literalTypes = new Set<string>()
  for (const p of policies) {
    for (const a of p.attributes) attributes.add(a)
    for (const t of p.literalTypes) literalTypes.add(t)
  }
  return {
    ids: policies.map((p) => p.id), attributes, literalTypes,
    usesHierarchy: policies.some((p) => p.usesHierarchy), opaque: policies.some((p) => p.opaque),
  }
}

export function uidKey(type: string, id: string): string {
  return `${type}\u0000${id}`
}

function entry(policies: PolicyFacts[]): SliceEntry {
  const gated: SliceEntry['gated'] = []
  policies.forEach((p, index) => { if (p.principalIn) gated.push({ index, key: uidKey(p.principalIn.type, p.principalIn.id) }) })
  return { ...shape(policies), facts: policies, gated }
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
  const slices = new Map<string, SliceEntry>()
  const build = (action: string, matching: PolicyFacts[]) => {
    const types = new Set<string>(schemaActions?.get(action)?.principalTypes ?? [])
    for (const f of matching) if (f.principalType) types.add(f.principalType)
    for (const type of types) slices.set(sliceKey(action, type), entry(matching.filter((f) => !f.principalType || f.principalType === type)))
    slices.set(sliceKey(action, ANY), entry(matching.filter((f) => !f.principalType)))
  }
  for (const action of actions) build(action, facts.filter((f) => matchesAction(f, action, actionAncestors.get(action) ?? [])))
  build(ANY, facts.filter((f) => f.actions === 'all'))
  return { slices, actions, actionAncestors }
}

/** The slice for a request: exact action and principal type, else the type-agnostic policies. */
export function findSlice(plan: SlicePlan, action: string, principalType: string): SliceEntry {
  const a = plan.actions.has(action) ? action : ANY
  return plan.slices.get(sliceKey(a, principalType)) ?? plan.slices.get(sliceKey(a, ANY))!
}

/**
 * The principal and its ancestors, as Cedar computes them for `in`: the
 * transitive closure of `parents` over the entities in the request (an
 * entity missing from the request has no ancestors).
 */
export function principalAncestry(principal: { type: string; id: string }, entities: ReadonlyArray<{ uid: { type: string; id: string }; parents: ReadonlyArray<{ type: string; id: string }> }>): Set<string> {
  const seen = new Set<string>([uidKey(principal.type, principal.id)])
  // Requests carry a handful of entities: a scan beats building an index.
  const queue: Array<{ type: string; id: string }> = [principal]
  while (queue.length > 0) {
    const next = queue.pop()!
    for (const e of entities) {
      if (e.uid.type !== next.type || e.uid.id !== next.id) continue
      for (const parent of e.parents ?? []) {
        const key = uidKey(parent.type, parent.id)
        if (!seen.has(key)) {
          seen.add(key)
          queue.push(parent)
        }
      }
    }
  }
  return seen
}
