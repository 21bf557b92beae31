// `bulwark status [--json]`: asks every component for its health over mTLS
// (the gateway over its public HTTPS) and prints the contract's shape:
// {"ready","gateway","issuer","components":[{"name","url","spiffeId","healthy","pid"}]}, plus
// "storage": the engine, and for PostgreSQL its host/port/database/user (never the password).
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

export async function collectStatus(ctx: CliContext) {
  const config = ctx.config()
  const runState = readRunState(ctx.paths.runState)
  const supervisorUp = isProcessAlive(runState?.supervisorPid)
  const names = supervisorUp && runState ? runState.components.map((c) => c.name) : plannedComponents(config, false)
  const rootPem = readFileSync(ctx.paths.rootCert, 'utf8')
  const components = await Promise.all(names.map(async (name) => {
    const url = componentUrl(config, name)
    let healthy = false
    if (name === 'gateway') healthy = await gatewayHealthy(url, rootPem)
    else {
      try {
        healthy = (await ctx.call(name, 'GET', '/healthz', undefined, { timeoutMs: 3000 })).status === 200
      } catch {
        healthy = false
      }
    }
    const pid = supervisorUp ? runState?.components.find((c) => c.name === name)?.pid ?? null : null
    return { name, url, spiffeId: serviceSpiffeId(config.trustDomain, name), healthy, pid }
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
    for (const c of status.components) ctx.out(`  ${c.healthy ? 'ok  ' : 'DOWN'} ${c.name.padEnd(9)} ${c.url.padEnd(26)} pid ${c.pid ?? '-'}  ${c.spiffeId}`)
  }
  return status.ready ? 0 : 1
}
