// "Ready" means ready to serve, not merely listening: every component's
// /readyz (policy pulled, revocation feed synced, …) is 200, and the gateway's
// /healthz (which aggregates its peers) is 200.
import { readFileSync } from 'node:fs'
import { Agent, request, componentUrl, type PlatformConfig } from '@bulwark/core/base'
import type { CliContext } from '../context.ts'

async function poll(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let ok = false
    try { ok = await probe() } catch { ok = false }
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${Math.round(timeoutMs / 1000)} s`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

export async function waitUntilServing(ctx: CliContext, config: PlatformConfig, names: string[], timeoutMs = 120_000): Promise<void> {
  await Promise.all(names.filter((n) => n !== 'gateway').map((name) =>
    poll(`${name} /readyz`, async () => (await ctx.call(name, 'GET', '/readyz', undefined, { timeoutMs: 3000 })).status === 200, timeoutMs)))
  if (!names.includes('gateway')) return
  const agent = new Agent({ connect: { ca: readFileSync(ctx.paths.rootCert, 'utf8') }, connections: 1 })
  try {
    await poll('gateway /healthz', async () => {
      const res = await request(`${componentUrl(config, 'gateway')}/healthz`, { dispatcher: agent, headersTimeout: 3000, bodyTimeout: 3000 })
      await res.body.dump()
      return res.statusCode === 200
    }, timeoutMs)
  } finally {
    await agent.close()
  }
}

/** Every later replica's /readyz is 200 (the gateway's replicas share one port: their `ready` message is what says so). */
export async function waitUntilReplicasServe(ctx: CliContext, _config: PlatformConfig, replicas: Array<{ name: string; url: string }>, timeoutMs = 120_000): Promise<void> {
  await Promise.all(replicas.map(({ name, url }) =>
    poll(`${name} at ${url} /readyz`, async () => (await ctx.call(name, 'GET', '/readyz', undefined, { timeoutMs: 3000, url })).status === 200, timeoutMs)))
}
