// A bounded LRU of decisions. The key is the complete (trimmed) input Cedar
// sees; Cedar's answer is a pure function of that input and the policy set,
// and a cache lives and dies with one preparsed set, so a hit is exactly the
// answer Cedar would give. Requests whose context carries a time-dependent
// key the slice reads are not cached: they would never hit.
import type { AuthzDecision } from '@bulwark/core'

export type DecisionCache = {
  get(key: string): AuthzDecision | undefined
  set(key: string, decision: AuthzDecision): void
  readonly size: number
}

export function createDecisionCache(maxEntries: number): DecisionCache {
  const map = new Map<string, AuthzDecision>()
  return {
    get(key) {
      const hit = map.get(key)
      if (hit !== undefined) {
        map.delete(key)
        map.set(key, hit)
      }
      return hit
    },
    set(key, decision) {
      if (maxEntries <= 0) return
      map.set(key, decision)
      if (map.size > maxEntries) map.delete(map.keys().next().value!)
    },
    get size() { return map.size },
  }
}
