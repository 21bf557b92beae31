// One JSON request over an mTLS agent, for service tests.
import { request, type Agent } from 'undici'

export type ApiResult = { status: number; body: any; headers: Record<string, unknown> }

export async function api(agent: Agent, base: string, method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiResult> {
  const response = await request(`${base}${path}`, {
    method: method as 'GET', dispatcher: agent,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
  })
  const text = await response.body.text()
  let body: unknown = text
  try { body = text ? JSON.parse(text) : undefined } catch { /* not JSON */ }
  return { status: response.statusCode, body, headers: response.headers }
}
