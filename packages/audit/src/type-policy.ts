// Which caller may write which event types. Types that detectors act on (an
// account lockout, an alert) or that speak for a control-plane component are
// reserved for that component; everything else (authn., authz., rate_limit.,
// request., token.rejected, …) is open to any platform component. The demo
// shop's business events are reserved to the service that does the work, so
// a compromised catalog cannot write `payment.charged`. Operator events come
// from the CLI as component `cli`.
// An entry ending in `.` reserves a namespace; otherwise one exact type.
const RESERVED: ReadonlyArray<[type: string, owners: readonly string[]]> = [
  ['login.', ['identity']],
  ['mfa.', ['identity']],
  ['account.', ['identity']],
  ['token.reuse_detected', ['identity']],
  ['token.reused', ['identity']],
  ['secret.', ['vault']],
  ['cert.', ['ca']],
  ['policy.', ['policy']],
  ['audit.', ['audit']],
  ['alert.', ['audit']],
  ['block.', ['audit']],
  // The console acts for a signed-in operator (step-up verified) and says who: `incident.` too.
  ['incident.', ['cli', 'console']],
  ['console.', ['console']],
  ['operator.', ['cli']],
  // The demo shop's business events: only the service that did the work may say it happened.
  ['order.', ['orders']],
  ['payment.', ['payments']],
  ['payment_method.', ['payments']],
  ['profile.', ['users']],
]

/** The operator (component `cli`) may only write these namespaces. */
const OPERATOR_NAMESPACES = ['incident.', 'operator.']

export function mayWriteType(component: string, type: string): boolean {
  if (component === 'cli' && !OPERATOR_NAMESPACES.some((prefix) => type.startsWith(prefix))) return false
  for (const [reserved, owners] of RESERVED) {
    const hit = reserved.endsWith('.') ? type.startsWith(reserved) : type === reserved
    if (hit) return owners.includes(component)
  }
  return true
}
