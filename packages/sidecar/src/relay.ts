// One request relayed to the next hop (the app, or an egress target) with
// undici through core's lean entry, body streamed both ways under the limits
// (limits.ts). Failures become the sidecar's coded errors; nothing here
// buffers a body.
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { SidecarErrors } from './errors.ts'
import { announcedLength, LimitExceeded, limitStream } from './limits.ts'
import type { HeaderList } from './headers.ts'

export type RelayRequest = {
  dispatcher: Dispatcher
  /** `http://127.0.0.1:9001`, `https://127.0.0.1:8614` */
  origin: string
  /** Sent as is: no URL parsing re-encodes it or resolves its dot segments. */
  path: string
  method: string
  headers: HeaderList
  body?: string | Readable
  timeoutMs: number
  maxResponseBytes: number
  /** Names the next hop in errors: `the app`, `` `payments` ``. */
  hop: string
}

export type RelayAnswer = { status: number; headers: Record<string, string | string[] | undefined>; body: Readable }

const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

function isLimit(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) if (e instanceof LimitExceeded) return true
  return false
}

export async function relay(req: RelayRequest): Promise<RelayAnswer> {
  let answer: Dispatcher.ResponseData
  try {
    answer = await req.dispatcher.request({
      origin: req.origin, path: req.path, method: req.method as Dispatcher.HttpMethod, headers: req.headers, body: req.body,
      headersTimeout: req.timeoutMs, bodyTimeout: req.timeoutMs,
    })
  } catch (error) {
    if (isLimit(error)) throw SidecarErrors.bodyTooLarge(undefined, { headers: { connection: 'close' } })
    if (TIMEOUTS.has((error as { code?: string }).code ?? '')) throw SidecarErrors.appTimeout(`${req.hop} did not answer within ${req.timeoutMs} ms`, { cause: error })
    throw SidecarErrors.appUnavailable(`${req.hop} did not answer`, { cause: error })
  }
  const announced = announcedLength(answer.headers['content-length'])
  if (announced !== undefined && announced > req.maxResponseBytes) {
    answer.body.destroy()
    throw SidecarErrors.answerTooLarge(`the answer of ${req.hop} (${announced} bytes) is over the ${req.maxResponseBytes}-byte limit`)
  }
  // A known length within the limit cannot grow past it (undici checks the length); anything else is counted.
  const body = announced === undefined ? limitStream(answer.body, req.maxResponseBytes) : answer.body
  return { status: answer.statusCode, headers: answer.headers, body }
}

/** The request body to relay: refused up front when announced over `maxBytes`, else streamed under the limit. */
export function requestBody(source: Readable, headers: Record<string, string | string[] | undefined>, maxBytes: number): Readable | undefined {
  const announced = announcedLength(headers['content-length'])
  if (announced === 0 || (announced === undefined && headers['transfer-encoding'] === undefined)) return undefined
  if (announced !== undefined && announced > maxBytes) throw SidecarErrors.bodyTooLarge(`request body of ${announced} bytes is over the ${maxBytes}-byte limit`, { headers: { connection: 'close' } })
  return limitStream(source, maxBytes)
}

/** True when `url` could mean two things to two parsers: an encoded slash or backslash, or a dot segment; or is not origin-form. */
export function isAmbiguousPath(url: string): boolean {
  if (!url.startsWith('/')) return true // absolute-form or `*` targets name no path of the app
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  if (/%2f|%5c|\\/i.test(path)) return true
  return /(?:^|\/)\.\.?(?:\/|$)/.test(path.replace(/%2e/gi, '.'))
}
