// The enforcement point's side of distribution: pull the active set from the
// policy service (ETag + long-poll), evaluate in-process, and keep serving on
// the last good set while the service is down. Decisions stay synchronous.
import type { Dispatcher } from 'undici'
import { request as undiciRequest, Gauge, type AuthzDecision, type AuthzRequest, type Authorizer, type Clock, type Logger, type Metrics } from '@bulwark/core'
import { createCedarAuthorizer, type CedarAuthorizer } from './cedar-authorizer.ts'
import { createDecisionRecorder, type DecisionRecorder } from './decision-recorder.ts'
import { createShadowAuthorizer, type ShadowAuthorizer } from './shadow.ts'
import { parsePolicyFiles } from './policy-text.ts'

export type PolicySetDocument = { version: string; schema: string; policies: string; activatedAt?: string }

export type PolicyClientOptions = {
  /** The policy service's base URL, e.g. `https://127.0.0.1:8603`. */
  url: string
  /** mTLS dispatcher verifying the policy service's SPIFFE ID. */
  dispatcher: Dispatcher
  log: Logger
  metrics?: Metrics
  clock?: Clock
  /** Long-poll wait per request, seconds (default 30). */
  waitSeconds?: number
  /** Delay after a failed pull, doubling up to maxRetryMs (defaults 500 / 15,000). */
  retryMs?: number
  maxRetryMs?: number
  /** A set to serve until the first pull succeeds (e.g. the packaged defaults): Cedar text or files (name -> text). */
  initial?: { schema?: string; policies: string | Record<string, string>; version?: string }
  /** Send this fraction of decisions to the decision log for dry runs (default 0.02; 0 turns it off). */
  recordSampleRate?: number
  cacheSize?: number
}

export type PolicyClient = Authorizer & {
  /** Resolves once a set from the service is active (or rejects after `timeoutMs`). */
  ready(timeoutMs?: number): Promise<void>
  /** Resolves when a set with this version (or any newer pull) is active. */
  waitForVersion(version: string, timeoutMs?: number): Promise<void>
  version(): string | undefined
  /** Ms since the last successful contact with the policy service, or undefined before it. */
  syncAge(): number | undefined
  current(): CedarAuthorizer | undefined
  /** Evaluates `candidate` (Cedar text or files) beside the active set on every decision (callers still get the active one). */
  startShadow(candidate: { schema?: string; policies: string | Record<string, string> }): void
  /** Stops shadowing and returns what the candidate would have changed. */
  stopShadow(): ReturnType<ShadowAuthorizer['report']> | undefined
  shadowReport(): ReturnType<ShadowAuthorizer['report']> | undefined
  close(): Promise<void>
}

/** Cedar files (name -> text) to an id-keyed set; a TypeError on any parse error. */
function parseOrThrow(files: Record<string, string>): Record<string, string> {
  const parsed = parsePolicyFiles(files)
  if (parsed.errors.length > 0) throw new TypeError(`policies: ${parsed.errors.map((e) => e.message).join('; ')}`)
  return parsed.policies
}

function gauge(metrics: Metrics | undefined, name: string, help: string, collect: () => number | undefined): void {
  if (!metrics || metrics.registry.getSingleMetric(name)) return
  new Gauge({
    name, help, registers: [metrics.registry],
    collect() {
      const value = collect()
      if (value !== undefined) this.set(value)
    },
  })
}

export function createPolicyClient(options: PolicyClientOptions): PolicyClient {
  const clock = options.clock ?? { now: () => Date.now() }
  const waitSeconds = options.waitSeconds ?? 30
  const baseRetry = options.retryMs ?? 500
  const maxRetry = options.maxRetryMs ?? 15_000
  let active: CedarAuthorizer | undefined
  let schemaText: string | undefined = options.initial?.schema
  let fromService = false
  let etag: string | undefined
  let activatedAt: number | undefined
  let lastSync: number | undefined
  let closed = false
  let controller = new AbortController()
  const listeners = new Set<() => void>()
  let shadow: { candidate: CedarAuthorizer; shadow: ShadowAuthorizer } | undefined
  const sampleRate = options.recordSampleRate ?? 0.02
  const recorder: DecisionRecorder | undefined = sampleRate > 0
    ? createDecisionRecorder({ url: options.url, dispatcher: options.dispatcher, log: options.log, sampleRate, now: clock.now })
    : undefined
  const denials = options.metrics?.counter('bulwark_policy_decisions_total', 'Policy decisions made in-process', ['decision'])
  const pullErrors = options.metrics?.counter('bulwark_policy_pull_errors_total', 'Failed pulls of the active policy set')
  gauge(options.metrics, 'bulwark_policy_set_version', 'Version of the policy set in force', () => active ? Number(active.version) || 0 : undefined)
  gauge(options.metrics, 'bulwark_policy_set_age_seconds', 'Seconds since the policy set in force was activated', () => activatedAt === undefined ? undefined : (clock.now() - activatedAt) / 1000)
  gauge(options.metrics, 'bulwark_policy_sync_age_seconds', 'Seconds since the policy service last answered', () => lastSync === undefined ? undefined : (clock.now() - lastSync) / 1000)

  if (options.initial) {
    const policies = parseOrThrow(typeof options.initial.policies === 'string' ? { initial: options.initial.policies } : options.initial.policies)
    active = createCedarAuthorizer({ schema: options.initial.schema, policies, version: options.initial.version ?? 'initial', cacheSize: options.cacheSize })
  }

  function install(doc: PolicySetDocument): void {
    const parsed = parsePolicyFiles({ [`v${doc.version}`]: doc.policies })
    if (parsed.errors.length > 0) throw new Error(`policy set ${doc.version} does not parse: ${parsed.errors[0]!.message}`)
    const next = createCedarAuthorizer({ schema: doc.schema, policies: parsed.policies, version: String(doc.version), cacheSize: options.cacheSize })
    schemaText = doc.schema
    const previous = active
    active = next
    fromService = true
    etag = `"${doc.version}"`
    activatedAt = doc.activatedAt ? Date.parse(doc.activatedAt) : clock.now()
    previous?.dispose()
    options.log.info({ version: doc.version, policies: next.policyIds.length }, 'policy set installed')
    for (const listener of [...listeners]) listener()
  }

  async function pullOnce(): Promise<void> {
    const wait = etag ? `?wait=${waitSeconds}` : ''
    const res = await undiciRequest(`${options.url}/v1/policy-set${wait}`, {
      method: 'GET', dispatcher: options.dispatcher, signal: controller.signal,
      headers: { accept: 'application/json', ...(etag ? { 'if-none-match': etag } : {}) },
      headersTimeout: (waitSeconds + 15) * 1000, bodyTimeout: 30_000,
    })
    if (res.statusCode === 304) {
      await res.body.dump()
      lastSync = clock.now()
      return
    }
    if (res.statusCode !== 200) {
      await res.body.dump()
      throw new Error(`policy service answered ${res.statusCode}`)
    }
    const doc = await res.body.json() as PolicySetDocument
    lastSync = clock.now()
    if (`"${doc.version}"` !== etag) install(doc)
  }

  const loop = (async () => {
    let delay = baseRetry
    while (!closed) {
      try {
        await pullOnce()
        delay = baseRetry
      } catch (error) {
        if (closed) break
        pullErrors?.inc()
        options.log.warn({ err: (error as Error).message, version: active?.version }, 'policy pull failed: serving the last good set')
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay)
          t.unref?.()
          controller.signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
        })
        delay = Math.min(delay * 2, maxRetry)
      }
    }
  })()

  function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const listener = () => {
        if (!predicate()) return
        clearTimeout(timer)
        listeners.delete(listener)
        resolve()
      }
      const timer = setTimeout(() => { listeners.delete(listener); reject(new Error(`policy client: ${what} not reached in ${timeoutMs} ms`)) }, timeoutMs)
      timer.unref?.()
      listeners.add(listener)
    })
  }

  return {
    authorize(request: AuthzRequest): AuthzDecision {
      const current = active
      const decision: AuthzDecision = !current
        ? { decision: 'deny', reasons: [], errors: ['no policy set loaded yet'], policyVersion: 'none' }
        : shadow ? shadow.shadow.authorize(request) : current.authorize(request)
      denials?.inc({ decision: decision.decision })
      // Only decisions of a set from the service are worth replaying.
      if (fromService) recorder?.record(request, decision)
      return decision
    },
    ready: (timeoutMs = 30_000) => waitFor(() => fromService, timeoutMs, 'first policy set'),
    waitForVersion: (version, timeoutMs = 30_000) => waitFor(() => fromService && etag === `"${version}"`, timeoutMs, `version ${version}`),
    version: () => active?.version,
    startShadow(candidate) {
      const policies = parseOrThrow(typeof candidate.policies === 'string' ? { candidate: candidate.policies } : candidate.policies)
      const next = createCedarAuthorizer({ schema: candidate.schema ?? schemaText, policies, version: 'candidate', cacheSize: options.cacheSize })
      shadow?.candidate.dispose()
      // The active side is looked up per call, so shadowing follows set updates.
      shadow = { candidate: next, shadow: createShadowAuthorizer({ active: { authorize: (r) => active!.authorize(r) }, candidate: next, metrics: options.metrics }) }
    },
    stopShadow() {
      const report = shadow?.shadow.report()
      shadow?.candidate.dispose()
      shadow = undefined
      return report
    },
    shadowReport: () => shadow?.shadow.report(),
    syncAge: () => lastSync === undefined ? undefined : clock.now() - lastSync,
    current: () => active,
    async close() {
      closed = true
      shadow?.candidate.dispose()
      shadow = undefined
      controller.abort()
      await loop
      await recorder?.close()
      controller = new AbortController()
    },
  }
}
