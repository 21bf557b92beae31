// The CA process. It starts first and signs its own serving SVID with the
// intermediate (the runtime re-issues it at half-life via `selfSigned`). The
// listener requests client certificates without requiring them, so the
// runtime's mTLS wiring is replaced by ours (`tls: 'custom'`): the peer guard
// enforces mTLS on every route except the join endpoint.
import { createLogger, homePaths, loadConfig, type AuditEventInput, type AuditSink, type BootstrapMessage } from '@bulwark/core'
import { runComponent } from '@bulwark/sdk/runtime'
import { CaConfigSchema, type CaConfig } from './config.ts'
import { createCa, type Ca } from './server.ts'

const DEFAULT_SERVING_NAMES = ['localhost', '127.0.0.1', '::1']

function configFrom(bootstrap: BootstrapMessage): CaConfig {
  const publicHost = new URL(bootstrap.publicUrl).hostname.replace(/^\[|\]$/g, '')
  return loadConfig(CaConfigSchema, {
    source: 'config.json components.ca',
    value: {
      trustDomain: bootstrap.trustDomain,
      svidTtlSeconds: bootstrap.svidTtlSeconds,
      servingNames: [...new Set([...DEFAULT_SERVING_NAMES, publicHost])],
      ...bootstrap.config,
    },
  }) as CaConfig
}

// Audit events raised before start() (the first serving SVID) wait here for the emitter.
let sink: AuditSink | undefined
const early: AuditEventInput[] = []
const audit: AuditSink = {
  emit: (event) => { if (sink) sink.emit(event); else early.push(event) },
  flush: async () => { await sink?.flush() },
}

let caPromise: Promise<Ca> | undefined
function caFor(bootstrap: BootstrapMessage): Promise<Ca> {
  caPromise ??= createCa(configFrom(bootstrap), {
    log: createLogger({ name: 'ca' }),
    audit,
    paths: homePaths(bootstrap.home),
    storage: bootstrap.storage,
  })
  return caPromise
}

void runComponent({
  name: 'ca',
  selfSigned: {
    async issue(bootstrap) {
      return await (await caFor(bootstrap)).issueServingSvid()
    },
  },
  async start(rt) {
    sink = rt.audit
    for (const event of early.splice(0)) sink.emit(event)
    const ca = await caFor(rt.bootstrap)
    // The runtime's revocation view (used by its peer agents) follows the inventory.
    const app = ca.createApp(rt.svid, { health: rt.health, metrics: rt.metrics, revocation: rt.revocation })
    return { app, tls: 'custom', close: () => ca.close() }
  },
})
