// The vault process: started by `bulwark up` through the sdk runtime.
import { readFileSync } from 'node:fs'
import { runComponent } from '@bulwark/sdk/runtime'
import { createCedarAuthorizer } from '@bulwark/sdk/policy'
import { createVault } from './server.ts'
import { loadVaultConfig } from './config.ts'

runComponent({
  name: 'vault',
  async start(rt) {
    const config = loadVaultConfig({ trustDomain: rt.bootstrap.trustDomain, ...rt.config })
    const authorizer = config.cedarPolicyFile ? createCedarAuthorizer({ policies: readFileSync(config.cedarPolicyFile, 'utf8') }) : undefined
    const vault = await createVault(config, {
      log: rt.log, audit: rt.audit, clock: rt.clock, home: rt.paths.home, metrics: rt.metrics, health: rt.health,
      https: rt.httpsOptions(), authorizer, storage: rt.bootstrap.storage,
    })
    return { app: vault.app, close: () => vault.close() }
  },
})
