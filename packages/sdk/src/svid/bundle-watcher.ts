// Keeps a process's view of revocation and quarantine current by long-polling
// the CA's bundle (`GET /v1/bundle?wait=&version=`) over mTLS. A changed root
// set is pushed into the SVID source so servers and agents trust it.
import type { Agent } from 'undici'
import { request, createMtlsAgent, expectSpiffeId, type Logger, type MutableSvidSource } from '@bulwark/core'
import { readCaAnswer } from './obtain.ts'
import { caSpiffeIdFor } from './response.ts'

export type BundleResponse = {
  trustDomain: string
  version: number
  roots: string[]
  revokedSerials: string[]
  quarantined: string[]
}

export type BundleWatcherOptions = {
  caUrl: string
  source: MutableSvidSource
  revocation: { replace(serials: Iterable<string>, blocked: Iterable<string>): void }
  log: Logger
  /** Long-poll duration asked of the CA, seconds. Default 25. */
  waitSeconds?: number
  retryBaseMs?: number
  maxBackoffMs?: number
  /** Told after each applied bundle. */
  onBundle?: (bundle: BundleResponse) => void
}

function normalisePems(pems: string): string {
  return pems.replace(/\r/g, '').split(/(?=-----BEGIN CERTIFICATE-----)/).map((p) => p.trim()).filter(Boolean).sort().join('\n')
}

export function startBundleWatcher(options: BundleWatcherOptions): { stop(): Promise<void>; ready: Promise<void> } {
  const waitSeconds = options.waitSeconds ?? 25
  const base = options.retryBaseMs ?? 500
  const cap = options.maxBackoffMs ?? 15_000
  const controller = new AbortController()
  let agent: Agent | undefined
  let version: number | undefined
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => { markReady = resolve })

  function currentAgent(): Agent {
    agent ??= createMtlsAgent(options.source, { verifyPeer: expectSpiffeId(caSpiffeIdFor(options.source.current().spiffeId)), connections: 1, keepAliveTimeout: (waitSeconds + 5) * 1000 })
    return agent
  }
  // New connections must present the rotated SVID; the old agent finishes its poll.
  const unsubscribe = options.source.onRotate(() => {
    const old = agent
    agent = undefined
    void old?.close().catch(() => {})
  })

  function apply(bundle: BundleResponse): void {
    options.revocation.replace(bundle.revokedSerials, bundle.quarantined)
    const svid = options.source.current()
    const roots = bundle.roots.map((r) => r.trim() + '\n').join('')
    if (bundle.roots.length > 0 && normalisePems(roots) !== normalisePems(svid.bundlePem)) {
      options.log.info({ version: bundle.version, roots: bundle.roots.length }, 'trust bundle roots changed')
      options.source.update({ ...svid, bundlePem: roots })
    }
    version = bundle.version
    options.onBundle?.(bundle)
    markReady()
  }

  async function loop(): Promise<void> {
    let failures = 0
    while (!controller.signal.aborted) {
      try {
        const query = version === undefined ? '' : `?version=${version}&wait=${waitSeconds}`
        const res = await request(new URL(`/v1/bundle${query}`, options.caUrl), {
          method: 'GET',
          dispatcher: currentAgent(),
          headers: { accept: 'application/json' },
          signal: controller.signal,
          headersTimeout: (waitSeconds + 10) * 1000,
          bodyTimeout: (waitSeconds + 10) * 1000,
        })
        const body = await readCaAnswer(res, 'bundle') as BundleResponse
        if (!body || typeof body.version !== 'number' || !Array.isArray(body.revokedSerials) || !Array.isArray(body.quarantined) || !Array.isArray(body.roots)) {
          throw new Error('ca answered a malformed bundle')
        }
        failures = 0
        if (body.version !== version) apply(body)
      } catch (error) {
        if (controller.signal.aborted) return
        failures += 1
        const delay = Math.min(cap, base * 2 ** (failures - 1)) * (0.8 + Math.random() * 0.4)
        options.log.warn({ err: (error as Error).message, failures, retryInMs: Math.round(delay) }, 'bundle watch failed')
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay)
          controller.signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
        })
      }
    }
  }

  const done = loop()
  return {
    ready,
    async stop() {
      controller.abort()
      unsubscribe()
      await done
      await agent?.close().catch(() => {})
    },
  }
}
