// Which caller may write which event types. Namespaces that detectors act on
// (an account lockout, an IP block) or that speak for a control-plane
// component are reserved for that component; the rest (authn., authz.,
// rate_limit., request., and a service's own namespaces) are open to any
// platform component. Operator events come from the CLI as component `cli`.
const RESERVED: ReadonlyArray<[prefix: string, owners: readonly string[]]> = [
  ['login.', ['identity']],
  ['mfa.', ['identity']],
  ['account.', ['identity']],
  ['session.', ['identity']],
  ['token.', ['identity', 'gateway']],
  ['secret.', ['vault']],
  ['transit.', ['vault']],
  ['cert.', ['ca']],
  ['svid.', ['ca']],
  ['policy.', ['policy']],
  ['audit.', ['audit']],
  ['alert.', ['audit']],
  ['block.', ['audit']],
  ['incident.', ['cli']],
  ['operator.', ['cli']],
]

/** The operator (component `cli`) may only write these namespaces. */
const OPERATOR_NAMESPACES = ['incident.', 'operator.']

export function mayWriteType(component: string, type: string): boolean {
  if (component === 'cli' && !OPERATOR_NAMESPACES.some((prefix) => type.startsWith(prefix))) return false
  for (const [prefix, owners] of RESERVED) {
    if (type.startsWith(prefix)) return owners.includes(component)
  }
  return true
}
