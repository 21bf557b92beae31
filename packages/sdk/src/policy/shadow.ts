// Shadow mode: a candidate set decides beside the active one on live traffic.
// Callers get the active decision only; differences are counted and sampled
// so an operator sees what activation would change before it happens.
import type { AuthzDecision, AuthzRequest, Authorizer, Metrics } from '@bulwark/core'

export type ShadowDifference = {
  action: string
  principal: string
  resource: string
  active: AuthzDecision['decision']
  candidate: AuthzDecision['decision']
  activeReasons: string[]
  candidateReasons: string[]
}

export type ShadowAuthorizer = Authorizer & {
  report(): { evaluated: number; differing: number; allowToDeny: number; denyToAllow: number; samples: ShadowDifference[] }
}

export function createShadowAuthorizer(options: { active: Authorizer; candidate: Authorizer; metrics?: Metrics; maxSamples?: number }): ShadowAuthorizer {
  const maxSamples = options.maxSamples ?? 50
  const samples: ShadowDifference[] = []
  let evaluated = 0, allowToDeny = 0, denyToAllow = 0
  const counter = options.metrics?.counter('bulwark_policy_shadow_decisions_total', 'Shadow evaluations of a candidate policy set', ['outcome'])
  return {
    authorize(request: AuthzRequest) {
      const active = options.active.authorize(request)
      let candidate: AuthzDecision
      try {
        candidate = options.candidate.authorize(request)
      } catch (error) {
        candidate = { decision: 'deny', reasons: [], errors: [String((error as Error).message)], policyVersion: 'candidate' }
      }
      evaluated++
      if (candidate.decision !== active.decision) {
        if (active.decision === 'allow') allowToDeny++
        else denyToAllow++
        counter?.inc({ outcome: active.decision === 'allow' ? 'allow_to_deny' : 'deny_to_allow' })
        if (samples.length < maxSamples) {
          samples.push({
            action: request.action.id, principal: `${request.principal.type}::${request.principal.id}`,
            resource: `${request.resource.type}::${request.resource.id}`, active: active.decision, candidate: candidate.decision,
            activeReasons: active.reasons, candidateReasons: candidate.reasons,
          })
        }
      } else {
        counter?.inc({ outcome: 'same' })
      }
      return active
    },
    report: () => ({ evaluated, differing: allowToDeny + denyToAllow, allowToDeny, denyToAllow, samples: [...samples] }),
  }
}
