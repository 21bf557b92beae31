// Dry run: replay the recorded decision log through the active set and a
// candidate, and report every decision that would change (counts + samples)
// before anyone activates the candidate.
import type { AuthzRequest } from '@bulwark/core'
import { createCedarAuthorizer } from '@bulwark/sdk/policy'
import type { PolicyStore } from './store.ts'
import type { CandidateCheck, ChangeSummary } from './policy-sets.ts'
import type { CedarAuthorizer } from '@bulwark/sdk/policy'

export type DiffSample = {
  decisionId: number
  time: string
  source: string
  principal: string
  action: string
  resource: string
  recorded: 'allow' | 'deny'
  before: 'allow' | 'deny'
  after: 'allow' | 'deny'
  beforeReasons: string[]
  afterReasons: string[]
  afterErrors: string[]
}

export type DiffReport = {
  activeVersion: string | null
  candidate: { policyCount: number; warnings: number }
  changes: ChangeSummary
  replayed: number
  changed: number
  allowToDeny: number
  denyToAllow: number
  samples: DiffSample[]
}

export async function replayDiff(options: {
  store: PolicyStore
  schema: string
  active: CedarAuthorizer | undefined
  candidate: CandidateCheck
  changes: ChangeSummary
  limit: number
  samples: number
}): Promise<DiffReport> {
  const candidate = createCedarAuthorizer({ schema: options.schema, policies: options.candidate.policies, version: 'candidate' })
  const report: DiffReport = {
    activeVersion: options.active?.version ?? null,
    candidate: { policyCount: options.candidate.policyCount, warnings: options.candidate.warnings.length },
    changes: options.changes, replayed: 0, changed: 0, allowToDeny: 0, denyToAllow: 0, samples: [],
  }
  try {
    for (const row of await options.store.recentDecisions(options.limit)) {
      const request = row.request as unknown as AuthzRequest
      const before = options.active
        ? options.active.authorize(request)
        : { decision: row.decision, reasons: [] as string[], errors: [] as string[] }
      const after = candidate.authorize(request)
      report.replayed++
      if (before.decision === after.decision) continue
      report.changed++
      if (before.decision === 'allow') report.allowToDeny++
      else report.denyToAllow++
      if (report.samples.length < options.samples) {
        report.samples.push({
          decisionId: row.id, time: row.time, source: row.source,
          principal: `${request.principal.type}::${JSON.stringify(request.principal.id)}`,
          action: request.action.id, resource: `${request.resource.type}::${JSON.stringify(request.resource.id)}`,
          recorded: row.decision, before: before.decision, after: after.decision,
          beforeReasons: before.reasons, afterReasons: after.reasons, afterErrors: after.errors.slice(0, 3),
        })
      }
    }
    return report
  } finally {
    candidate.dispose()
  }
}
