// Strict JSON for request bodies (RFC 8259 §4: names SHOULD be unique; I-JSON,
// RFC 7493 §2.3: MUST be unique). A body with a repeated key is refused, since
// the upstream's parser may keep a different copy than we validated; nesting
// depth is bounded so deep documents cannot exhaust a parser's stack.
import { GatewayErrors } from './errors.ts'

/** Parses `text`, refusing duplicate keys and nesting deeper than `maxDepth`. */
export function parseStrictJson(text: string, maxDepth: number): unknown {
  scan(text, maxDepth)
  try {
    return JSON.parse(text)
  } catch {
    throw GatewayErrors.invalidJson()
  }
}

function scan(text: string, maxDepth: number): void {
  // Stack of key sets (objects) or null (arrays).
  const stack: Array<Set<string> | null> = []
  let expectKey = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      const start = i
      i++
      while (i < text.length) {
        const d = text.charCodeAt(i)
        if (d === 0x5c) i += 2
        else if (d === 0x22) break
        else i++
      }
      if (i >= text.length) throw GatewayErrors.invalidJson()
      if (expectKey) {
        let key: string
        try {
          key = JSON.parse(text.slice(start, i + 1)) as string
        } catch {
          throw GatewayErrors.invalidJson()
        }
        const keys = stack[stack.length - 1]!
        if (keys.has(key)) throw GatewayErrors.duplicateKey(`request body repeats the key \`${key.slice(0, 64)}\``)
        keys.add(key)
        expectKey = false
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= maxDepth) throw GatewayErrors.jsonTooDeep(`request body nests deeper than ${maxDepth}`)
      stack.push(c === 0x7b ? new Set() : null)
      expectKey = c === 0x7b
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop()
      expectKey = false
    } else if (c === 0x2c /* , */) {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null
    }
  }
}
