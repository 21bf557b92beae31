// The policy process on the platform runtime.
import { runComponent } from '@bulwark/sdk/runtime'
import { createPolicyService } from './server.ts'

void runComponent({
  name: 'policy',
  async start(rt) {
    const svc = await createPolicyService({ trustDomain: rt.bootstrap.trustDomain, ...rt.config }, {
      log: rt.log, audit: rt.audit, clock: rt.clock, metrics: rt.metrics, health: rt.health,
      databasePath: typeof rt.config.database === 'string' ? rt.config.database : rt.paths.database('policy'),
      storage: rt.bootstrap.storage,
      https: rt.httpsOptions(),
    })
    return { app: svc.app, close: () => svc.close() }
  },
})
