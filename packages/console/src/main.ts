// Entry point forked by `bulwark up`: the console is a component like the
// others (its own SVID `spiffe://<td>/svc/console`, mTLS to every peer, audit
// through the emitter). It holds no keys of other components and no client
// secret: it signs in at identity with its SVID.
import { loadConfig, serviceSpiffeId, SHOP_COMPONENTS } from '@bulwark/core'
import { runComponent } from '@bulwark/sdk/runtime'
import { ConsoleConfigSchema } from './config.ts'
import { createConsoleServer } from './server.ts'
import { createOidcClient } from './oidc.ts'
import { createPlatform } from './platform.ts'
import { buildAssets } from './assets.ts'

runComponent({
  name: 'console',
  async start(rt) {
    const { port: _port, enabled: _enabled, ...section } = rt.config
    const config = loadConfig(ConsoleConfigSchema, { source: 'config.json components.console', value: section })
    const td = rt.bootstrap.trustDomain
    // The shop's services are only there with --demo.
    const names = Object.keys(rt.bootstrap.peers).filter((n) => rt.demo || !(SHOP_COMPONENTS as readonly string[]).includes(n))
    const peer = (name: string) => rt.peer(name)
    const app = createConsoleServer(config, {
      log: rt.log, metrics: rt.metrics, health: rt.health, audit: rt.audit, clock: rt.clock, https: rt.httpsOptions(),
      publicUrl: rt.bootstrap.publicUrl, gatewaySpiffeId: serviceSpiffeId(td, 'gateway'), selfSpiffeId: rt.bootstrap.spiffeId,
      svidExpiresAt: () => rt.svid.current().notAfter,
      oidc: createOidcClient({ publicUrl: rt.bootstrap.publicUrl, gateway: () => peer('gateway'), identity: () => peer('identity') }),
      platform: createPlatform({ names, peer }, td),
      components: names, assets: await buildAssets(),
    })
    return { app }
  },
})
