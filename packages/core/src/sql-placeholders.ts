// Component SQL uses `?` placeholders (what SQLite takes); PostgreSQL wants
// `$1, $2, …`. The rewrite skips string literals ('…', E'…'), quoted
// identifiers ("…"), dollar-quoted bodies ($tag$…$tag$) and comments, so a `?`
// inside them stays as written. Results are cached: component SQL is a fixed set.

const cache = new Map<string, { text: string; count: number }>()
const MAX_CACHED = 512
const DOLLAR_TAG = /^\$\w*\$/

/** Rewrites `?` to `$n`; `count` is how many placeholders there are. */
export function toPostgresPlaceholders(sql: string): { text: string; count: number } {
  const hit = cache.get(sql)
  if (hit) return hit
  let out = ''
  let count = 0
  let i = 0
  while (i < sql.length) {
    const c = sql[i]!
    const next = sql[i + 1]
    let end = i + 1
    if (c === "'" || c === '"') {
      // '' (or "") inside doubles the quote; E'…' escapes end at the same quote for our purpose.
      end = i + 1
      while (end < sql.length) {
        if (sql[end] === c) {
          if (sql[end + 1] === c) { end += 2; continue }
          end++
          break
        }
        if (c === "'" && sql[end] === '\\' && /[eE]/.test(sql[i - 1] ?? '')) { end += 2; continue }
        end++
      }
    } else if (c === '-' && next === '-') {
      end = sql.indexOf('\n', i)
      end = end === -1 ? sql.length : end
    } else if (c === '/' && next === '*') {
      end = sql.indexOf('*/', i + 2)
      end = end === -1 ? sql.length : end + 2
    } else if (c === '$') {
      const tag = DOLLAR_TAG.exec(sql.slice(i))
      // `$1` is a parameter, not a tag: a tag never starts with a digit.
      if (tag && !/^\$\d/.test(tag[0])) {
        const close = sql.indexOf(tag[0], i + tag[0].length)
        end = close === -1 ? sql.length : close + tag[0].length
      }
    } else if (c === '?') {
      out += `$${++count}`
      i++
      continue
    }
    out += sql.slice(i, end)
    i = end
  }
  const result = { text: out, count }
  if (cache.size >= MAX_CACHED) cache.clear()
  cache.set(sql, result)
  return result
}
