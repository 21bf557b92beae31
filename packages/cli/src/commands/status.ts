// `bulwark status [--json]`: asks every component for its health over mTLS
// (the gateway over its public HTTPS) and prints the contract's shape:
// {"ready","gateway","issuer","components":[{"name","url","spiffeId","healthy","pid"}]}, plus
// "storage": the engine, and for PostgreSQL its host/port/database/user (never the password).
// A component running as replicas adds "replicas": [{"replica","url","pid","healthy"}].
import { readFileSync } from 'node:fs'
import { Agent, request, componentUrl, gatewayUrl, serviceSpiffeId } from '@bulwark/core/base'
import { parseArgs, UsageError } from '../args.ts'
import type { CliContext } from '../context.ts'
import { plannedComponents } from '../supervisor/components.ts'
import { isProcessAlive, readRunState } from '../supervisor/state.ts'
import { describeStorage } from '../supervisor/storage.ts'

export const usage = `bulwark status [--json]
  Health of every component of the running instance. Exit 0 when all are ready, 1 otherwise.`

async function gatewayHealthy(url: string, rootPem: string): Promise<boolean> {
  const agent = new Agent({ connect: { ca: rootPem }, connections: 1 })
  try {
    const res = await request(`${url}/healthz`, { dispatcher: agent, headersTimeout: 3000, bodyTimeout: 3000 })
    await res.body.dump()
    return res.statusCode === 200
  } catch {
    return false
  } finally {
    await agent.close()
  }
}

/** One replica's health: its /healthz over mTLS (the gateway's replicas share one port: the shared /healthz and the process being alive). */
async function replicaHealthy(ctx: CliContext, name: string, url: string, rootPem: string, pid: number | null): Promise<boolean> {
  if (name === 'gateway') return (pid === null || isProcessAlive(pid)) && await gatewayHealthy(url, rootPem)
  try {
    return (await ctx.call(name, 'GET', '/healthz', undefined, { timeoutMs: 3000, url })).status === 200
  } catch {
    return false
  }
}

export async function collectStatus(ctx: CliContext) {
  const config = ctx.config()
  const runState = readRunState(ctx.paths.runState)
  const supervisorUp = isProcessAlive(runState?.supervisorPid)
  const names = supervisorUp && runState ? [...new Set(runState.components.map((c) => c.name))] : plannedComponents(config, false)
  const rootPem = readFileSync(ctx.paths.rootCert, 'utf8')
  const components = await Promise.all(names.map(async (name) => {
    const url = componentUrl(config, name)
    const running = supervisorUp ? runState?.components.filter((c) => c.name === name) ?? [] : []
    const pid = running[0]?.pid ?? null
    const spiffeId = serviceSpiffeId(config.trustDomain, name)
    if (running.length <= 1) return { name, url, spiffeId, healthy: await replicaHealthy(ctx, name, url, rootPem, null), pid }
    // A component running as replicas: one row each; the component is healthy when every replica is.
    const replicas = await Promise.all(running.map(async (r) => ({ replica: r.replica ?? 1, url: r.url, pid: r.pid, healthy: r.pid !== null && await replicaHealthy(ctx, name, r.url, rootPem, r.pid) })))
    return { name, url, spiffeId, healthy: replicas.every((r) => r.healthy), pid, replicas }
  }))
  const ready = supervisorUp && components.length > 0 && components.every((c) => c.healthy)
  return { ready, gateway: gatewayUrl(config), issuer: gatewayUrl(config), components, storage: describeStorage(config) }
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { positionals } = parseArgs(args, { json: 'boolean' })
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\``)
  const status = await collectStatus(ctx)
  if (ctx.json) ctx.out(JSON.stringify(status))
  else {
    ctx.out(`${status.ready ? 'ready' : 'NOT READY'}  gateway ${status.gateway}`)
    const s = status.storage
    ctx.out(`  storage ${s.engine === 'sqlite' ? 'sqlite (one file per component)' : `postgres ${s.host}:${s.port}/${s.database} as ${s.user || '(default user)'}`}`)
    for (const c of status.components) {
      if (!('replicas' in c) || !c.replicas) ctx.out(`  ${c.healthy ? 'ok  ' : 'DOWN'} ${c.name.padEnd(9)} ${c.url.padEnd(26)} pid ${c.pid ?? '-'}  ${c.spiffeId}`)
      else for (const r of c.replicas) ctx.out(`  ${r.healthy ? 'ok  ' : 'DOWN'} ${`${c.name}#${r.replica}`.padEnd(9)} ${r.url.padEnd(26)} pid ${r.pid ?? '-'}  ${c.spiffeId}`)
    }
  }
  return status.ready ? 0 : 1
}
