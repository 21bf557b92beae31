// Sliding-window bookkeeping for detectors, bounded in memory: at most
// `maxKeys` keys (the least recently touched go first).
export type WindowCounter = {
  /** Records one occurrence for `key` at `at` and returns how many fall in the window. */
  add(key: string, at: number): number
  /** Records `value` for `key` and returns how many distinct values fall in the window. */
  addDistinct(key: string, value: string, at: number): number
  /** How many occurrences for `key` fall in the window ending at `at`, without recording one. */
  count(key: string, at: number): number
  reset(key: string): void
}

export function createWindowCounter(windowMs: number, maxKeys = 50_000): WindowCounter {
  const times = new Map<string, number[]>()
  const distinct = new Map<string, Map<string, number>>()

  function touch<V>(map: Map<string, V>, key: string, make: () => V): V {
    let value = map.get(key)
    if (value === undefined) value = make()
    else map.delete(key)
    map.set(key, value)
    if (map.size > maxKeys) map.delete(map.keys().next().value as string)
    return value
  }

  return {
    add(key, at) {
      const list = touch(times, key, () => [] as number[])
      if (list.length === 0 || at >= list[list.length - 1]!) list.push(at)
      else list.splice(list.findIndex((t) => t > at), 0, at)
      if (list.length > 10_000) list.shift()
      const newest = list[list.length - 1]!
      while (list.length > 0 && list[0]! <= newest - windowMs) list.shift()
      return list.length
    },
    addDistinct(key, value, at) {
      const seen = touch(distinct, key, () => new Map<string, number>())
      seen.set(value, Math.max(at, seen.get(value) ?? 0))
      let newest = 0
      for (const t of seen.values()) newest = Math.max(newest, t)
      for (const [v, t] of seen) if (t <= newest - windowMs) seen.delete(v)
      return seen.size
    },
    count(key, at) {
      const list = times.get(key)
      return list ? list.filter((t) => t > at - windowMs).length : 0
    },
    reset(key) {
      times.delete(key)
      distinct.delete(key)
    },
  }
}

/** Fires at most once per key per window: the first crossing raises, repeats are quiet. */
export function createCooldown(windowMs: number, maxKeys = 50_000): (key: string, at: number) => boolean {
  const last = new Map<string, number>()
  return (key, at) => {
    const previous = last.get(key)
    if (previous !== undefined && at - previous < windowMs) return false
    last.delete(key)
    last.set(key, at)
    if (last.size > maxKeys) last.delete(last.keys().next().value as string)
    return true
  }
}
