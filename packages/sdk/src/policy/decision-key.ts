// The decision cache key. It is the exact input Cedar is given (trimmed
// request), except that the principal's and the resource's uids are renamed
// to placeholders wherever they occur as entity references (request uids,
// entity uids, parents, `__entity` values) when the slice names no literal of
// their type. Why that is safe: Cedar observes an entity id only through
// `==`/`in` between uids, attribute lookup and literals. A consistent,
// one-to-one renaming preserves the first two, the third is excluded, and the
// placeholder cannot collide because a request already holding an entity
// with the placeholder id is not cached. Strings are never renamed. So two
// requests with the same key are the same request up to that renaming and
// Cedar decides them identically: alice reading her order and bob reading
// his share one entry.
import type { AuthzRequest, EntityRef } from '@bulwark/core'
import type { CedarEntity, TrimmedRequest } from './request-trim.ts'
import type { SliceShape } from './slices.ts'

const PRINCIPAL = '\u0000principal'
const RESOURCE = '\u0000resource'

/** The key (scoped to the preparsed slice that decides), or undefined when the request must not be cached. */
export function decisionKey(request: AuthzRequest, trimmed: TrimmedRequest, slice: SliceShape, sliceId: string): string | undefined {
  const renames = new Map<string, string>()
  if (!slice.opaque) {
    if (!slice.literalTypes.has(request.principal.type)) renames.set(`${request.principal.type}\u0000${request.principal.id}`, PRINCIPAL)
    if (!slice.literalTypes.has(request.resource.type)) {
      const key = `${request.resource.type}\u0000${request.resource.id}`
      if (!renames.has(key)) renames.set(key, RESOURCE)
    }
  }
  let collision = false
  const ren = (uid: EntityRef): EntityRef => {
    if (uid.id === PRINCIPAL || uid.id === RESOURCE) collision = true
    const to = renames.size === 0 ? undefined : renames.get(`${uid.type}\u0000${uid.id}`)
    return to === undefined ? uid : { type: uid.type, id: to }
  }
  const replacer = (key: string, value: unknown) =>
    key === '__entity' && value !== null && typeof value === 'object' ? ren(value as EntityRef) : value
  const parts: string[] = [
    sliceId,
    JSON.stringify([ren(request.principal), request.action.id, ren(request.resource)]),
    JSON.stringify(trimmed.context, replacer),
  ]
  for (const e of trimmed.entities as CedarEntity[]) {
    parts.push(JSON.stringify([ren(e.uid), e.attrs, e.parents.map(ren)], replacer))
  }
  return collision ? undefined : parts.join('\n')
}
