// Passing Cedar only what a slice can read. Cedar's cost per call is mostly
// converting entities across the wasm boundary, so each request is trimmed
// to the attributes its slice's policies name (by name, on any entity: a
// conservative over-approximation), parents only when the slice uses `in`,
// and entities left empty are dropped. A policy reading an attribute that
// was trimmed away would have had to name it, so it cannot happen; a dropped
// entity without attributes or parents answers `has` and `in` exactly as a
// missing one does.
import type { AuthzRequest, EntityRef } from '@bulwark/core'
import type { SliceShape } from './slices.ts'

export type CedarEntity = { uid: EntityRef; attrs: Record<string, unknown>; parents: EntityRef[] }

export type TrimmedRequest = {
  context: Record<string, unknown>
  entities: CedarEntity[]
}

function pick(record: Record<string, unknown> | undefined, names: Set<string>): Record<string, unknown> | undefined {
  if (!record) return undefined
  let out: Record<string, unknown> | undefined
  for (const key in record) {
    if (names.has(key) && record[key] !== undefined) (out ??= {})[key] = record[key]
  }
  return out
}

export function trimRequest(request: AuthzRequest, slice: SliceShape, actionEntities: readonly CedarEntity[]): TrimmedRequest {
  const given = (request.entities ?? []) as readonly CedarEntity[]
  const groups = actionEntities.filter((a) => !given.some((e) => e.uid.type === 'Action' && e.uid.id === a.uid.id))
  if (slice.opaque) return { context: request.context ?? {}, entities: [...given, ...groups] }
  const entities: CedarEntity[] = []
  for (const entity of given) {
    const attrs = pick(entity.attrs, slice.attributes)
    const parents = slice.usesHierarchy ? entity.parents : []
    if (!attrs && parents.length === 0) continue
    entities.push({ uid: entity.uid, attrs: attrs ?? {}, parents })
  }
  // Action groups (from the schema) are always passed: `action in Action::"group"` needs them,
  // unless the caller passed the action entity itself (a duplicate would be an error).
  entities.push(...groups)
  return { context: pick(request.context, slice.attributes) ?? {}, entities }
}
