// The store's domain: validate (Cedar's validator + the lockout guard),
// apply, list, activate (roll back) and the active set's document for
// distribution. Every change is an audit event naming who and what changed.
import { createHash } from 'node:crypto'
import type { AuditActor, AuditSink, Clock, Logger } from '@bulwark/core'
import { createCedarAuthorizer, policiesToText, validatePolicyFiles, type CedarAuthorizer, type Diagnostic, type PolicySetDocument } from '@bulwark/sdk/policy'
import type { PolicyConfig } from './config.ts'
import { PolicyErrors } from './errors.ts'
import { checkOperatorAccess } from './guard.ts'
import type { PolicyStore } from './store.ts'

export type PolicyFilesInput = string | Record<string, string>

export type CandidateCheck = {
  ok: boolean
  policies: Record<string, string>
  errors: Diagnostic[]
  warnings: Diagnostic[]
  policyCount: number
}

export type ChangeSummary = { added: string[]; removed: string[]; changed: string[] }

export type PolicySets = {
  check(input: PolicyFilesInput): CandidateCheck
  /** Validates, then stores and activates a new version. Throws BW_POLICY_INVALID / BW_POLICY_LOCKOUT. */
  /** With `onlyIfNoneActive` (the first-start seed), another replica's seed wins and this one changes nothing. */
  apply(input: PolicyFilesInput, actor: AuditActor, message?: string, options?: { onlyIfNoneActive?: boolean }): Promise<{ version: number; unchanged: boolean; changes: ChangeSummary; warnings: Diagnostic[] }>
  activate(version: number, actor: AuditActor): Promise<{ version: number; previous?: number }>
  document(): PolicySetDocument | undefined
  /** Evaluator of the active set (the service's own admin checks, the diff baseline). */
  authorizer(): CedarAuthorizer | undefined
  changesAgainstActive(policies: Record<string, string>): ChangeSummary
  onChange(listener: () => void): () => void
  close(): void
}

export function toFiles(input: PolicyFilesInput): Record<string, string> {
  return typeof input === 'string' ? { 'policies.cedar': input } : input
}

export function digestOf(schema: string, policies: Record<string, string>): string {
  const canonical = JSON.stringify([schema, Object.entries(policies).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))])
  return createHash('sha256').update(canonical).digest('hex')
}

function actorLabel(actor: AuditActor): string {
  return actor.spiffeId ?? actor.id ?? actor.kind
}

export async function createPolicySets(config: PolicyConfig, deps: { store: PolicyStore; schema: string; audit: AuditSink; clock: Clock; log: Logger }): Promise<PolicySets> {
  const { store, schema, audit, clock, log } = deps
  const listeners = new Set<() => void>()
  let current: { version: number; activatedAt: number; policies: Record<string, string>; digest: string; authorizer: CedarAuthorizer; doc: PolicySetDocument } | undefined
  // Changes take turns: two applies at once must not both pass the "unchanged?" check.
  let tail: Promise<unknown> = Promise.resolve()
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = tail.then(fn)
    tail = result.catch(() => {})
    return result
  }

  async function load(): Promise<void> {
    const active = await store.active()
    if (!active) return
    const row = (await store.getSet(active.version))!
    const authorizer = createCedarAuthorizer({ schema: row.schema, policies: row.policies, version: String(row.version) })
    const previous = current
    current = {
      version: row.version, activatedAt: active.activatedAt, policies: row.policies, digest: row.digest, authorizer,
      doc: { version: String(row.version), schema: row.schema, policies: policiesToText(row.policies), activatedAt: new Date(active.activatedAt).toISOString() },
    }
    previous?.authorizer.dispose()
    for (const listener of [...listeners]) listener()
  }

  function check(input: PolicyFilesInput): CandidateCheck {
    const files = toFiles(input)
    const size = Object.values(files).reduce((n, text) => n + Buffer.byteLength(text), 0)
    if (size > config.maxPolicyBytes) throw PolicyErrors.tooLarge(`the policy set is ${size} bytes; the limit is ${config.maxPolicyBytes}`)
    const result = validatePolicyFiles(schema, files)
    const errors = [...result.errors]
    if (result.ok) errors.push(...checkOperatorAccess(schema, result.policies, config.trustDomain, config.operators))
    return { ok: errors.length === 0, policies: result.policies, errors, warnings: result.warnings, policyCount: Object.keys(result.policies).length }
  }

  function changesAgainstActive(policies: Record<string, string>): ChangeSummary {
    const before = current?.policies ?? {}
    return {
      added: Object.keys(policies).filter((id) => !Object.hasOwn(before, id)),
      removed: Object.keys(before).filter((id) => !Object.hasOwn(policies, id)),
      changed: Object.keys(policies).filter((id) => Object.hasOwn(before, id) && before[id] !== policies[id]),
    }
  }

  function refuse(actor: AuditActor, result: CandidateCheck, what: string): never {
    const lockout = result.errors.some((e) => e.code === PolicyErrors.lockout.code)
    const error = lockout ? PolicyErrors.lockout : PolicyErrors.invalid
    audit.emit({
      type: 'policy.rejected', actor, action: what, resource: 'policy-set', outcome: 'failure', reason: error.code,
      details: { errors: result.errors.length, first: (result.errors[0]?.message ?? '').slice(0, 500) },
    })
    throw error(`${error === PolicyErrors.lockout ? 'the policy set would deny the operator its admin API' : 'the policy set failed validation'}: ${result.errors.length} problem(s)`, {
      extensions: { errors: result.errors.map((e) => ({ path: e.file ? `${e.file}${e.line ? `:${e.line}` : ''}` : (e.policyId ?? '/'), message: e.message, ...(e.policyId ? { policyId: e.policyId } : {}), ...(e.help ? { help: e.help } : {}) })) },
    })
  }

  await load()
  return {
    check,
    apply: (input, actor, message = '', options = {}) => inTurn(async () => {
      const result = check(input)
      if (!result.ok) refuse(actor, result, 'policy.apply')
      const digest = digestOf(schema, result.policies)
      const changes = changesAgainstActive(result.policies)
      if (current && current.digest === digest) {
        return { version: current.version, unchanged: true, changes, warnings: result.warnings }
      }
      const at = clock.now()
      const previous = current?.version
      const version = await store.insertAndActivate({ schema, policies: result.policies, digest, createdAt: at, createdBy: actorLabel(actor), message: message.slice(0, 500) }, options)
      await load()
      if (version === undefined) return { version: current!.version, unchanged: true, changes: changesAgainstActive(result.policies), warnings: result.warnings }
      audit.emit({
        type: 'policy.applied', actor, action: 'policy.apply', resource: `policy-set:${version}`, outcome: 'success',
        details: {
          version, previous: previous ?? null, policies: result.policyCount, digest: digest.slice(0, 16),
          added: changes.added.join(',').slice(0, 1000), removed: changes.removed.join(',').slice(0, 1000), changed: changes.changed.join(',').slice(0, 1000),
          message: message.slice(0, 500),
        },
      })
      log.info({ version, previous, added: changes.added.length, removed: changes.removed.length, changed: changes.changed.length }, 'policy set applied')
      return { version, unchanged: false, changes, warnings: result.warnings }
    }),
    activate: (version, actor) => inTurn(async () => {
      const row = await store.getSet(version)
      if (!row) throw PolicyErrors.unknownVersion(`no policy set version \`${version}\``)
      // The schema or the guard may have moved since this version was stored: check it again.
      const result = check(row.policies)
      if (!result.ok) refuse(actor, result, 'policy.activate')
      const previous = current?.version
      const changes = changesAgainstActive(row.policies)
      await store.activate(version, actorLabel(actor), clock.now())
      await load()
      audit.emit({
        type: 'policy.activated', actor, action: 'policy.activate', resource: `policy-set:${version}`, outcome: 'success',
        details: { version, previous: previous ?? null, added: changes.added.length, removed: changes.removed.length, changed: changes.changed.length },
      })
      return { version, ...(previous === undefined ? {} : { previous }) }
    }),
    document: () => current?.doc,
    authorizer: () => current?.authorizer,
    changesAgainstActive,
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close() {
      current?.authorizer.dispose()
      current = undefined
      listeners.clear()
    },
  }
}
