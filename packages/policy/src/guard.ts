// Lockout guard: a set that would deny the operator any route of this
// service's admin API is refused, so a bad apply can always be rolled back.
import { operatorSpiffeId } from '@bulwark/core'
import { callRequest, createCedarAuthorizer, type Diagnostic } from '@bulwark/sdk/policy'

/** The admin API, as `[METHOD, route pattern]` (Fastify's pattern, as enforcement points see it). */
export const ADMIN_ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['POST', '/v1/policy-sets/validate'],
  ['POST', '/v1/policy-sets'],
  ['GET', '/v1/policy-sets'],
  ['GET', '/v1/policy-sets/:version'],
  ['POST', '/v1/policy-sets/:version/activate'],
  ['POST', '/v1/policy-sets/diff'],
]

export const SERVICE_NAME = 'policy'

/** Diagnostics for every admin route the candidate would deny an operator; empty when none. */
export function checkOperatorAccess(schema: string, policies: Record<string, string>, trustDomain: string, operators: readonly string[]): Diagnostic[] {
  const authz = createCedarAuthorizer({ schema, policies, version: 'candidate', cacheSize: 0 })
  try {
    const problems: Diagnostic[] = []
    for (const name of operators) {
      const operator = operatorSpiffeId(trustDomain, name)
      for (const [method, route] of ADMIN_ROUTES) {
        const d = authz.authorize(callRequest(operator, SERVICE_NAME, method, route))
        if (d.decision !== 'allow') {
          problems.push({
            code: 'BW_POLICY_LOCKOUT',
            message: `operator \`${operator}\` would be denied \`${method} ${route}\`` +
              (d.reasons.length > 0 ? ` by ${d.reasons.map((r) => `\`${r}\``).join(', ')}` : ': no policy permits it') +
              (d.errors.length > 0 ? ` (${d.errors[0]})` : ''),
            help: 'keep a permit for `Operator` principals calling `Endpoint` resources of service `policy`',
          })
        }
      }
    }
    return problems
  } finally {
    authz.dispose()
  }
}
