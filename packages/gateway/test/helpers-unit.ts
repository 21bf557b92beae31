// Small builders for stage tests.
import { createSilentLogger } from '@bulwark/core'
import { compileRoutes, type CompiledRoute } from '../src/routes.ts'
import type { GatewayRequest, RequestContext } from '../src/pipeline/types.ts'

export function routeOf(route: Record<string, unknown>): CompiledRoute {
  return compileRoutes([{ id: 'r', path: '/x', methods: ['GET'], upstream: 'catalog', ...route }]).routes[0]!
}

export function makeReq(overrides: Partial<GatewayRequest> & { url?: string } = {}): GatewayRequest {
  const url = overrides.url ?? '/x'
  const [path, query = ''] = url.split('?') as [string, string?]
  return { method: 'GET', path, query, segments: path.slice(1).split('/'), headers: {}, remoteAddress: '127.0.0.1', ...overrides }
}

export function makeCtx(overrides: Partial<RequestContext> = {}): RequestContext {
  return { requestId: 'req-00000001', log: createSilentLogger(), params: {}, clientIp: '127.0.0.1', responseHeaders: {}, ...overrides }
}

/** Runs `fn` and returns the BulwarkError code it threw, or 'ok'. */
export async function outcome(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn()
    return 'ok'
  } catch (error) {
    return (error as { code?: string }).code ?? String(error)
  }
}
