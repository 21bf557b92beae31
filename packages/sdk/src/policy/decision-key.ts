// The decision cache key: the exact input Cedar is given (the trimmed
// request), with every entity uid whose type no policy of the slice names by
// a literal renamed to a canonical placeholder (`\u0000#0`, `\u0000#1`, … in
// order of first appearance) wherever it occurs as an entity reference
// (request uids, entity uids, parents, `__entity` values).
//
// Why a hit is exactly Cedar's answer: Cedar is a pure function of
// (policies, request, entities). It observes an entity id only through `==`
// and `in` between uids, attribute lookup by uid, and comparisons with
// literals. A consistent one-to-one renaming preserves the first three, and
// types named by a literal are never renamed. Placeholders cannot collide
// with real ids: a request holding an id that starts with `\u0000#` is not
// cached. Strings are never renamed, only entity references. So two requests
// with the same key are the same request up to renaming, and Cedar decides
// them identically: alice reading her order and bob reading his share one
// entry, and so does anyone reading an order that is not theirs.
import type { AuthzRequest, EntityRef } from '@bulwark/core'
import type { CedarEntity, TrimmedRequest } from './request-trim.ts'
import type { SliceShape } from './slices.ts'

const MARK = '\u0000#'

/** The key (scoped to the preparsed slice that decides), or undefined when the request must not be cached. */
export function decisionKey(request: AuthzRequest, trimmed: TrimmedRequest, slice: SliceShape, sliceId: string): string | undefined {
  if (slice.opaque) return undefined
  const renames = new Map<string, string>()
  let collision = false
  const ren = (uid: EntityRef): EntityRef => {
    if (uid.id.startsWith(MARK)) collision = true
    if (uid.type === 'Action' || slice.literalTypes.has(uid.type)) return uid
    const key = `${uid.type}\u0000${uid.id}`
    let to = renames.get(key)
    if (to === undefined) renames.set(key, to = `${MARK}${renames.size}`)
    return { type: uid.type, id: to }
  }
  const replacer = (key: string, value: unknown) =>
    key === '__entity' && value !== null && typeof value === 'object' ? ren(value as EntityRef) : value
  // The fast path (no replacer) unless the value holds entity references.
  const json = (value: unknown) => {
    const text = JSON.stringify(value)
    return text.includes('"__entity"') ? JSON.stringify(value, replacer) : text
  }
  // Every caller-supplied string is JSON-encoded, so the raw separators (\n, \u0001, \u0002)
  // cannot occur inside a field and the key stays one-to-one with the input.
  const uid = (u: EntityRef) => {
    const r = ren(u)
    return `${JSON.stringify(r.type)}\u0001${JSON.stringify(r.id)}`
  }
  let key = `${sliceId}\n${uid(request.principal)}\n${JSON.stringify(request.action.id)}\n${uid(request.resource)}\n${json(trimmed.context)}`
  for (const e of trimmed.entities as CedarEntity[]) {
    key += `\n${uid(e.uid)}\u0002${json(e.attrs)}`
    for (const p of e.parents) key += `\u0002${uid(p)}`
  }
  return collision ? undefined : key
}
