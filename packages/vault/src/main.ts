// The vault process: started by `bulwark up` through the sdk runtime.
import { runComponent } from '@bulwark/sdk/runtime'
import { createVault } from './server.ts'
import { loadVaultConfig } from './config.ts'

runComponent({
  name: 'vault',
  async start(rt) {
    const config = loadVaultConfig({ trustDomain: rt.bootstrap.trustDomain, ...rt.config })
    const vault = await createVault(config, {
      log: rt.log, audit: rt.audit, clock: rt.clock, home: rt.paths.home, metrics: rt.metrics, health: rt.health,
      https: rt.httpsOptions(),
    })
    return { app: vault.app, close: () => vault.close() }
  },
})
