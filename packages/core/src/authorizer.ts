// The seam between enforcement points (gateway, services) and the policy
// engine: a request in Cedar's terms and the decision that comes back.
export type EntityRef = { type: string; id: string }

export type AuthzRequest = {
  principal: EntityRef
  action: EntityRef
  resource: EntityRef
  context?: Record<string, unknown>
  /** Entities the decision may look at (principal attributes, resource owner, …) in Cedar JSON form. */
  entities?: ReadonlyArray<{ uid: EntityRef; attrs: Record<string, unknown>; parents: EntityRef[] }>
}

export type AuthzDecision = {
  decision: 'allow' | 'deny'
  /** Ids of the policies that determined the decision. */
  reasons: string[]
  /** Evaluation errors: any error means deny (fail closed). */
  errors: string[]
  /** The version of the policy set that decided. */
  policyVersion: string
}

export type Authorizer = {
  authorize(request: AuthzRequest): AuthzDecision
}
