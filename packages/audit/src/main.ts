// Entry point forked by `bulwark up`: the runtime brings the SVID, mTLS and
// health; the audit service records its own events locally (rt.audit would
// point at itself).
import { loadConfig } from '@bulwark/core'
import { runComponent } from '@bulwark/sdk/runtime'
import { AuditConfigSchema } from './config.ts'
import { createAuditService } from './service.ts'
import { createIdentityLocker } from './responders.ts'

runComponent({
  name: 'audit',
  async start(rt) {
    const config = loadConfig(AuditConfigSchema, { source: 'config.json components.audit', value: rt.config })
    const identity = rt.bootstrap.peers.identity ? rt.peer('identity') : undefined
    const service = await createAuditService(config, {
      log: rt.log, metrics: rt.metrics, health: rt.health, clock: rt.clock, trustDomain: rt.bootstrap.trustDomain,
      dataDir: rt.paths.componentDir('audit'), storage: rt.bootstrap.storage, https: rt.httpsOptions(),
      ...(identity ? { lockAccount: createIdentityLocker(identity) } : {}),
    })
    return { app: service.app, close: () => service.close() }
  },
})
