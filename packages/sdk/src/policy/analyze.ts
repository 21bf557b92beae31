// Static facts about each policy, read from Cedar's own JSON form of it
// (policyToJson). They decide which slice a policy lands in and which parts
// of a request it can possibly read. Nothing here evaluates a policy: the
// facts only let us hand Cedar less, never something different.
import { cedar, type Expr, type PolicyJson } from './cedar.ts'

export type PolicyFacts = {
  id: string
  effect: 'permit' | 'forbid'
  /** Action ids the scope names, or 'all'. `in` names a group or the action itself. */
  actions: string[] | 'all'
  /** The principal type the scope pins (`is T`, `== T::"x"`), if any. */
  principalType?: string
  /** `principal in E` / `principal is T in E`: the policy can only apply when E is the principal or one of its ancestors. */
  principalIn?: { type: string; id: string }
  /** Attribute names read anywhere (`.attr`, `has attr`), on any entity or record. */
  attributes: Set<string>
  /** Uses `in` (scope or expression): entity parents matter. */
  usesHierarchy: boolean
  /** Uses entity tags or reads `context` as a whole: no trimming is safe. */
  opaque: boolean
  /** Entity types named by a literal (`Role::"admin"`, scope `== T::"x"`): their ids matter as such. */
  literalTypes: Set<string>
}

function literals(value: unknown, into: Set<string>): void {
  if (value === null || typeof value !== 'object') return
  if (Array.isArray(value)) {
    for (const v of value) literals(v, into)
    return
  }
  const record = value as Record<string, unknown>
  if (record.__entity && typeof record.__entity === 'object') into.add((record.__entity as { type: string }).type)
  for (const v of Object.values(record)) literals(v, into)
}

type Node = Record<string, unknown>

function walk(expr: unknown, facts: PolicyFacts): void {
  if (expr === null || typeof expr !== 'object') return
  if (Array.isArray(expr)) {
    for (const item of expr) walk(item, facts)
    return
  }
  const node = expr as Node
  for (const [op, body] of Object.entries(node)) {
    const b = body as Node
    switch (op) {
      case 'Value':
        literals(body, facts.literalTypes) // `{__entity}` escapes; no attribute reads
        continue
      case 'Var':
        // A bare `context` (not under `.`/`has`) is read whole.
        if (body === 'context') facts.opaque = true
        continue
      case '.':
        facts.attributes.add(b.attr as string)
        if (isVar(b.left, 'context')) continue
        walk(b.left, facts)
        continue
      case 'has': {
        const attrs = Array.isArray(b.attr) ? b.attr as string[] : [b.attr as string]
        for (const a of attrs) facts.attributes.add(a)
        if (isVar(b.left, 'context')) continue
        walk(b.left, facts)
        continue
      }
      case 'in':
        facts.usesHierarchy = true
        break
      case 'is':
        if (b.in !== undefined) facts.usesHierarchy = true
        break
      case 'getTag': case 'hasTag':
        facts.opaque = true
        break
    }
    walk(body, facts)
  }
}

function isVar(expr: unknown, name: string): boolean {
  return typeof expr === 'object' && expr !== null && (expr as Node).Var === name
}

function scopeType(constraint: PolicyJson['principal']): { type?: string; hierarchy: boolean } {
  switch (constraint.op) {
    case '==': return 'entity' in constraint ? { type: entityType(constraint.entity), hierarchy: false } : { hierarchy: false }
    case 'is': return { type: constraint.entity_type, hierarchy: constraint.in !== undefined }
    case 'in': return { hierarchy: true }
    default: return { hierarchy: false }
  }
}

function entityType(uid: unknown): string | undefined {
  const u = uid as { type?: string; __entity?: { type: string } }
  return u.__entity?.type ?? u.type
}

function entityId(uid: unknown): string {
  const u = uid as { id?: string; __entity?: { id: string } }
  return (u.__entity?.id ?? u.id)!
}

/** Reads the facts of one policy from Cedar's JSON form; throws a TypeError when Cedar cannot parse it. */
export function analyzePolicy(id: string, text: string): PolicyFacts {
  const answer = cedar.policyToJson(text)
  if (answer.type !== 'success') throw new TypeError(`policy \`${id}\`: ${answer.errors.map((e) => e.message).join('; ')}`)
  const json = answer.json
  const principal = scopeType(json.principal)
  const scope = json.principal as { op: string; entity?: unknown; in?: { entity?: unknown } }
  const inEntity = scope.op === 'in' ? scope.entity : scope.op === 'is' ? scope.in?.entity : undefined
  const resource = scopeType(json.resource)
  let actions: string[] | 'all' = 'all'
  if (json.action.op === '==' && 'entity' in json.action) actions = [entityId(json.action.entity)]
  else if (json.action.op === 'in') actions = ('entities' in json.action ? json.action.entities : [json.action.entity]).map(entityId)
  const facts: PolicyFacts = {
    id,
    effect: json.effect,
    actions,
    ...(principal.type ? { principalType: principal.type } : {}),
    ...(inEntity ? { principalIn: { type: entityType(inEntity)!, id: entityId(inEntity) } } : {}),
    attributes: new Set(),
    usesHierarchy: principal.hierarchy || resource.hierarchy,
    opaque: false,
    literalTypes: new Set(),
  }
  for (const scope of [json.principal, json.resource] as Array<{ entity?: unknown; in?: { entity?: unknown } }>) {
    if (scope.entity) facts.literalTypes.add(entityType(scope.entity)!)
    if (scope.in?.entity) facts.literalTypes.add(entityType(scope.in.entity)!)
  }
  for (const clause of json.conditions) walk(clause.body as Expr, facts)
  return facts
}
