// The segmentation graph (which workload may open a connection to which) as
// the Cedar policies decide it: the one source for both the in-process
// `Action::"call"` checks and the Kubernetes NetworkPolicies, so the two
// cannot drift. An edge a → b exists when Cedar permits SOME call from
// `svc/a` to an endpoint of b. To find one without enumerating every route,
// we probe b with each method and route the policies themselves mention
// (a `like` pattern becomes a matching route) plus one no policy names.
// Every edge found is a real Cedar permit; a permit whose condition needs a
// value no policy spells out would be missed, which keeps the network
// narrower than Cedar, never wider.
import { serviceSpiffeId } from '@bulwark/core/base'
import { callRequest, cedar, createCedarAuthorizer, parsePolicyFiles } from '@bulwark/sdk/policy'

export type Edge = { from: string; to: string }

const METHODS = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$/
const UNNAMED_ROUTE = '/__bulwark-probe'

/** Every string literal in a policy's JSON form; a `like` pattern as one string that it matches. */
function literalsOf(node: unknown, into: Set<string>): void {
  if (node === null || typeof node !== 'object') return
  if (Array.isArray(node)) { for (const item of node) literalsOf(item, into); return }
  const record = node as Record<string, unknown>
  if (typeof record.Value === 'string') into.add(record.Value)
  if (Array.isArray(record.pattern)) {
    into.add(record.pattern.map((part) => (part === 'Wildcard' ? 'x' : String((part as { Literal?: string }).Literal ?? ''))).join(''))
  }
  for (const value of Object.values(record)) literalsOf(value, into)
}

function probes(policies: Record<string, string>): Array<{ method: string; route: string }> {
  const literals = new Set<string>()
  for (const text of Object.values(policies)) {
    const json = cedar.policyToJson(text)
    if (json.type === 'success') literalsOf(json.json, literals)
  }
  const methods = [...new Set(['GET', ...[...literals].filter((l) => METHODS.test(l))])]
  const routes = [...new Set([UNNAMED_ROUTE, ...[...literals].filter((l) => l.startsWith('/'))])]
  return methods.flatMap((method) => routes.map((route) => ({ method, route })))
}

/**
 * Service-to-service edges between `components` that the policy files permit.
 * Throws when the policies do not parse (validate them with `bulwark policy validate`).
 */
export function segmentationGraph(files: Record<string, string>, options: { schema: string; trustDomain: string; components: readonly string[] }): Edge[] {
  const parsed = parsePolicyFiles(files)
  if (parsed.errors.length > 0) throw new Error(`policies do not parse: ${parsed.errors.map((e) => `${e.file ?? ''}: ${e.message}`).join('; ')}`)
  const authorizer = createCedarAuthorizer({ schema: options.schema, policies: parsed.policies, cacheSize: 0 })
  try {
    const candidates = probes(parsed.policies)
    const edges: Edge[] = []
    for (const from of options.components) {
      const principal = serviceSpiffeId(options.trustDomain, from)
      for (const to of options.components) {
        if (to === from) continue
        const allowed = candidates.some(({ method, route }) => authorizer.authorize(callRequest(principal, to, method, route)).decision === 'allow')
        if (allowed) edges.push({ from, to })
      }
    }
    return edges
  } finally {
    authorizer.dispose()
  }
}
