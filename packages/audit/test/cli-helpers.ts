// A Bulwark home for CLI tests (config, operator certificate, root) pointing
// at a real audit service and at small real mTLS stand-ins for identity,
// vault and ca (their side of each call is tested in their own packages).
import { mkdirSync, writeFileSync } from 'node:fs'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { attachMtls, homePaths, mtlsServerOptions, operatorSpiffeId, peerOf } from '@bulwark/core'
import { tempDir, type TestCa } from '@bulwark/testkit'
import { createCliContext } from '../../cli/src/context.ts'
import { UsageError } from '../../cli/src/args.ts'
import { CliError } from '../../cli/src/context.ts'

export type Seen = { component: string; method: string; url: string; caller?: string; body: unknown }
export type Stub = { app: FastifyInstance; port: number; seen: Seen[] }
export type Handler = (request: FastifyRequest) => { status?: number; body: unknown }

export async function startStub(ca: TestCa, component: string, routes: Record<string, Handler>): Promise<Stub> {
  const source = await ca.source(component)
  const app = Fastify({ https: mtlsServerOptions(source) } as never) as unknown as FastifyInstance
  const seen: Seen[] = []
  for (const [route, handler] of Object.entries(routes)) {
    const [method, url] = route.split(' ') as [string, string]
    app.route({
      method: method as 'GET', url,
      handler: async (request, reply) => {
        seen.push({ component, method, url: request.url, caller: peerOf(request.raw.socket as never)?.spiffeId, body: request.body })
        const answer = handler(request)
        return reply.code(answer.status ?? 200).send(answer.body)
      },
    })
  }
  attachMtls(app.server as never, source)
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, port: (app.server.address() as { port: number }).port, seen }
}

export async function makeHome(ca: TestCa, ports: Record<string, number>): Promise<{ home: string; remove(): void }> {
  const dir = tempDir('bulwark-cli-home-')
  const paths = homePaths(dir.path)
  const components: Record<string, { port: number; enabled: boolean }> = {}
  for (const [name, port] of Object.entries(ports)) components[name] = { port, enabled: true }
  writeFileSync(paths.config, JSON.stringify({ trustDomain: ca.trustDomain, internalHost: '127.0.0.1', publicHost: 'localhost', svidTtlSeconds: 3600, components }))
  const operator = await ca.issue(operatorSpiffeId(ca.trustDomain))
  mkdirSync(paths.operatorDir, { recursive: true })
  mkdirSync(paths.caDir, { recursive: true })
  writeFileSync(paths.operatorCert, `${operator.certPem.trim()}\n${operator.chainPem.trim()}\n`)
  writeFileSync(paths.operatorKey, operator.keyPem, { mode: 0o600 })
  writeFileSync(paths.rootCert, ca.rootPem)
  return { home: dir.path, remove: dir.remove }
}

export type CliResult = { code: number; out: string; err: string }

/** Runs one `bulwark <command>` module in-process, as dispatch.ts does. */
export async function cli(home: string, command: 'audit' | 'alerts' | 'incident', args: string[]): Promise<CliResult> {
  const module = await import(`../../cli/src/commands/${command}.ts`) as { run(args: string[], ctx: unknown): Promise<number> }
  const out: string[] = []
  const err: string[] = []
  const ctx = createCliContext({ home, json: args.includes('--json'), out: (t) => out.push(t), err: (t) => err.push(t) })
  let code: number
  try {
    code = await module.run(args, ctx)
  } catch (error) {
    if (error instanceof UsageError) code = 2
    else if (error instanceof CliError) code = error.exitCode
    else code = 1
    err.push((error as Error).message)
  } finally {
    await ctx.close()
  }
  return { code, out: out.join('\n'), err: err.join('\n') }
}
