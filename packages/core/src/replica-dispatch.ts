// Calls to a component that runs as several replicas: a request addressed to
// any replica's origin goes to the next live one in turn (round robin), and a
// request that could not reach its replica is sent to the next one. Wraps an
// mTLS Agent, so every replica is checked against the same SPIFFE ID.
//
// What is retried elsewhere: a connection that could not be opened (refused,
// unreachable, connect timeout) for every method, since nothing was sent; and
// a connection lost before the answer began only for idempotent methods (the
// replica may have done a POST before it died: not replaying it is what keeps
// "one request, at most one effect"). Bodies must be replayable (none, a
// string or bytes); a streamed body is never retried.
import type { Dispatcher } from 'undici'

/** Codes of a connection that never carried the request. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT'])
/** Codes of a connection lost before any answer (the request may have been processed). */
const LOST = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])
/** How long a replica that refused a connection is passed over (it is tried again after). */
export const REPLICA_DOWN_MS = 2000

export type ReplicaSet = {
  /** The origins, in replica order. */
  readonly origins: readonly string[]
  /** The origin the next request should go to: round robin over the replicas not marked down (all of them when every one is). */
  pick(): string
  markDown(origin: string): void
}

export function createReplicaSet(origins: readonly string[], now: () => number = Date.now): ReplicaSet {
  const list = origins.map((o) => new URL(o).origin)
  const downUntil = new Map<string, number>()
  let next = 0
  return {
    origins: list,
    pick() {
      const t = now()
      for (let i = 0; i < list.length; i++) {
        const origin = list[(next + i) % list.length]!
        if ((downUntil.get(origin) ?? 0) <= t) {
          next = (next + i + 1) % list.length
          return origin
        }
      }
      const origin = list[next % list.length]!
      next = (next + 1) % list.length
      return origin
    },
    markDown(origin) { downUntil.set(origin, now() + REPLICA_DOWN_MS) },
  }
}

function replayable(body: unknown): boolean {
  return body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array
}

export function shouldFailOver(error: unknown, method: string): boolean {
  const code = (error as { code?: string } | undefined)?.code ?? ''
  return NOT_CONNECTED.has(code) || (LOST.has(code) && IDEMPOTENT.has(method.toUpperCase()))
}

type Handler = Dispatcher.DispatchHandler

/** Forwards to `inner` (a new-style handler) until the first answer byte; before that, an error it may retry goes to `retry`. */
class FailoverHandler implements Handler {
  private answered = false
  private readonly inner: Handler
  private readonly retry: (error: Error) => boolean
  constructor(inner: Handler, retry: (error: Error) => boolean) {
    this.inner = inner
    this.retry = retry
  }
  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void { this.inner.onRequestStart?.(controller, context) }
  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>, socket: import('node:stream').Duplex): void {
    this.answered = true
    this.inner.onRequestUpgrade?.(controller, statusCode, headers as never, socket)
  }
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    this.answered = true
    this.inner.onResponseStart?.(controller, statusCode, headers as never, statusMessage)
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void { this.inner.onResponseData?.(controller, chunk) }
  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void { this.inner.onResponseEnd?.(controller, trailers as never) }
  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    if (!this.answered && this.retry(error)) return
    this.inner.onResponseError?.(controller, error)
  }
}

/**
 * An interceptor (for `agent.compose`) that spreads requests to any origin of
 * `replicas` over all of them and fails over as described above. Requests to
 * other origins pass untouched.
 */
export function replicaInterceptor(replicas: ReplicaSet): Dispatcher.DispatcherComposeInterceptor {
  const known = new Set(replicas.origins)
  return (dispatch) => (options, handler) => {
    const asked = options.origin === undefined ? undefined : new URL(String(options.origin)).origin
    if (asked === undefined || !known.has(asked)) return dispatch(options, handler)
    const method = String(options.method ?? 'GET')
    const canRetry = replayable(options.body)
    let tries = 0
    const attempt = (origin: string): boolean => {
      tries++
      return dispatch({ ...options, origin }, new FailoverHandler(handler, (error) => {
        if (!canRetry || tries >= replicas.origins.length || !shouldFailOver(error, method)) {
          if (shouldFailOver(error, 'GET')) replicas.markDown(origin)
          return false
        }
        replicas.markDown(origin)
        attempt(replicas.pick())
        return true
      }))
    }
    return attempt(replicas.pick())
  }
}
