// Calls another service the zero-trust way: mTLS with this workload's SVID to
// a server that must present the target's SPIFFE ID, and a token exchanged
// for one addressed to that target alone (never the caller's own token).
// Answers are bounded in size; idempotent calls are retried once when the
// connection failed before any answer; a circuit breaker per target fails
// fast (503) while a callee keeps failing.
import { request } from '@bulwark/core'
import type { ComponentRuntime } from '../runtime/index.ts'
import { ServiceErrors } from './errors.ts'
import { createTokenExchange, type TokenExchange } from './token-exchange.ts'
import { createCircuitBreaker, type CircuitBreaker } from './circuit-breaker.ts'

export type CallOptions = {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  path: string
  query?: Record<string, string | number | undefined>
  body?: unknown
  /** The token this request came in with (`request.accessToken`); it is exchanged, not forwarded. */
  subjectToken?: string
  requestId?: string
  timeoutMs?: number
  /** Largest answer body read (default 1 MiB); a bigger one is a failure, so a callee cannot exhaust the caller's memory. */
  maxAnswerBytes?: number
}

export type CallResult<T = unknown> = { status: number; headers: Record<string, string | string[] | undefined>; body: T }

export type ServiceClient = {
  callService<T = unknown>(name: string, options: CallOptions): Promise<CallResult<T>>
  exchange: TokenExchange
}

const DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024
const IDEMPOTENT = new Set(['GET', 'PUT', 'DELETE'])
const RETRYABLE = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])

class AnswerTooLarge extends Error {
  readonly code = 'BW_ANSWER_TOO_LARGE'
}

/** The body as text, refusing (and cutting the connection) past `maxBytes`, whether or not a length was announced. */
async function readLimited(body: AsyncIterable<Buffer> & { destroy(error?: Error): void }, announced: number, maxBytes: number): Promise<string> {
  if (Number.isFinite(announced) && announced > maxBytes) {
    body.destroy()
    throw new AnswerTooLarge(`answer of ${announced} bytes is over the ${maxBytes}-byte limit`)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > maxBytes) {
      body.destroy()
      throw new AnswerTooLarge(`answer is over the ${maxBytes}-byte limit`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export type ServiceClientOptions = {
  exchange?: TokenExchange
  /** Consecutive failures (no answer, or 502/503/504) that open a target's circuit; default 5. */
  breakerFailures?: number
  /** How long an open circuit fails fast before one trial call; default 5 s. */
  breakerCooldownMs?: number
}

const FAILED_ANSWERS = new Set([502, 503, 504])

export function createServiceClient(rt: ComponentRuntime, options: ServiceClientOptions = {}): ServiceClient {
  let exchange = options.exchange
  const breakers = new Map<string, CircuitBreaker>()
  const breakerOf = (name: string) => {
    let breaker = breakers.get(name)
    if (!breaker) breakers.set(name, breaker = createCircuitBreaker({ failures: options.breakerFailures ?? 5, cooldownMs: options.breakerCooldownMs ?? 5000, clock: rt.clock }))
    return breaker
  }
  const tokens = (): TokenExchange => {
    if (!exchange) {
      const identity = rt.peer('identity')
      exchange = createTokenExchange({
        tokenUrl: `${identity.url}/oauth2/token`, dispatcher: identity.dispatcher,
        clientId: `svc-${rt.bootstrap.component}`, clock: rt.clock,
      })
    }
    return exchange
  }
  return {
    get exchange() { return tokens() },
    async callService<T>(name: string, call: CallOptions): Promise<CallResult<T>> {
      if (!call.path.startsWith('/') || call.path.startsWith('//')) throw new TypeError(`callService: path \`${call.path}\` must be absolute`)
      const target = rt.peer(name)
      const headers: Record<string, string> = { accept: 'application/json' }
      if (call.subjectToken) headers.authorization = `Bearer ${await tokens().exchange(call.subjectToken, target.spiffeId, call.requestId)}`
      if (call.requestId) headers['x-request-id'] = call.requestId
      if (call.body !== undefined) headers['content-type'] = 'application/json'
      const url = new URL(call.path, target.url)
      for (const [key, value] of Object.entries(call.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value))
      // Asked only now, with the request ready: a half-open circuit's one trial must end in success() or failure().
      const circuit = breakerOf(name)
      const wait = circuit.blockedForMs()
      if (wait > 0) throw ServiceErrors.upstreamUnavailable(`\`${name}\` keeps failing; not called`, { headers: { 'retry-after': String(Math.ceil(wait / 1000)) } })
      const method = call.method ?? 'GET'
      const maxBytes = call.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES
      // An idempotent request (RFC 9110 §9.2.2) is sent once more when the connection failed before an answer.
      const attempts = IDEMPOTENT.has(method) ? 2 : 1
      for (let attempt = 1; ; attempt++) {
        try {
          const response = await request(url, {
            method, dispatcher: target.dispatcher, headers,
            body: call.body === undefined ? undefined : JSON.stringify(call.body),
            headersTimeout: call.timeoutMs ?? 10_000, bodyTimeout: call.timeoutMs ?? 10_000,
          })
          const text = await readLimited(response.body, Number(response.headers['content-length']), maxBytes)
          let body: unknown = undefined
          if (text.length > 0) {
            try { body = JSON.parse(text) } catch { body = text }
          }
          if (FAILED_ANSWERS.has(response.statusCode)) circuit.failure()
          else circuit.success()
          return { status: response.statusCode, headers: response.headers, body: body as T }
        } catch (error) {
          if (attempt < attempts && RETRYABLE.has((error as { code?: string }).code ?? '')) continue
          circuit.failure()
          throw ServiceErrors.upstreamFailed(`call to \`${name}\` failed`, { cause: error })
        }
      }
    },
  }
}
