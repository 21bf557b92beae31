// One request to an upstream through an undici dispatcher, with a lean
// handler instead of `dispatcher.request()`: request() wraps every answer in a
// Readable and a few promises, which cost ~35 µs per request on this machine
// (bench/gateway), a third of a bare proxy's whole budget. A small answer of
// known length is collected into one Buffer (and goes out in one write with
// its headers); anything else is handed on as a stream with backpressure.
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'

export type UpstreamAnswer = {
  statusCode: number
  headers: Record<string, string | string[]>
  /** The whole body when it was small and of known length, else a stream of it. */
  body: Buffer | Readable
}

/**
 * Raw header pairs (as undici hands them over) to lower-cased names; repeated
 * names become arrays. Behind an interceptor (a peer with replicas: core's
 * replica-dispatch) undici hands a repeated header over as one name with an
 * array of values: each value is kept (joined with commas, two Set-Cookie
 * headers would become one broken cookie).
 */
export function headerRecord(raw: Array<Buffer | string | Array<Buffer | string>>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase()
    const given = raw[i + 1]!
    for (const one of Array.isArray(given) ? given : [given]) {
      const value = one.toString('latin1')
      const seen = out[name]
      if (seen === undefined) out[name] = value
      else if (Array.isArray(seen)) seen.push(value)
      else out[name] = [seen, value]
    }
  }
  return out
}

class AnswerHandler implements Dispatcher.DispatchHandler {
  private chunks: Buffer[] | undefined
  private stream: Readable | undefined
  private statusCode = 0
  private headers: Record<string, string | string[]> = {}
  private settled = false
  private ended = false
  private abort: ((reason?: Error) => void) | undefined

  private readonly bufferLimit: number
  private readonly resolve: (answer: UpstreamAnswer) => void
  private readonly reject: (error: Error) => void

  constructor(bufferLimit: number, resolve: (answer: UpstreamAnswer) => void, reject: (error: Error) => void) {
    this.bufferLimit = bufferLimit
    this.resolve = resolve
    this.reject = reject
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abort = abort
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true // informational answers are not passed on
    this.statusCode = statusCode
    this.headers = headerRecord(raw)
    const length = Number(this.headers['content-length'])
    if (Number.isInteger(length) && length >= 0 && length <= this.bufferLimit) {
      this.chunks = []
      return true
    }
    this.stream = new Readable({
      read: () => resume(),
      // The reader gave up (the client went away): abort the upstream request so its connection is not held paused.
      destroy: (error, callback) => {
        if (!this.ended) this.abort?.(error ?? new Error('answer no longer wanted'))
        callback(error)
      },
    })
    this.settle({ statusCode, headers: this.headers, body: this.stream })
    return true
  }

  onData(chunk: Buffer): boolean {
    if (this.chunks) {
      this.chunks.push(chunk)
      return true
    }
    return this.stream!.push(chunk)
  }

  onComplete(): void {
    this.ended = true
    if (this.stream) {
      this.stream.push(null)
      return
    }
    const chunks = this.chunks ?? []
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
    this.settle({ statusCode: this.statusCode, headers: this.headers, body })
  }

  onError(error: Error): void {
    this.ended = true
    if (!this.settled) {
      this.settled = true
      this.reject(error)
    } else this.stream?.destroy(error)
  }

  private settle(answer: UpstreamAnswer): void {
    if (this.settled) return
    this.settled = true
    this.resolve(answer)
  }
}

/** Sends `options` through `dispatcher`; resolves once the answer (or, for a streamed one, its head) is in. */
export function sendUpstream(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, bufferLimit: number): Promise<UpstreamAnswer> {
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(options, new AnswerHandler(bufferLimit, resolve, reject))
  })
}
