// Byte limits on streamed bodies, both ways: a body announced over the limit
// is refused before a byte moves; one that grows past it (chunked, or a lying
// Content-Length) is cut mid-stream, so neither side can make the sidecar
// buffer or relay more than it allows.
import { Transform, type Readable, type TransformCallback } from 'node:stream'

export class LimitExceeded extends Error {
  readonly code = 'BW_LIMIT_EXCEEDED'
}

/** A pass-through that errors with LimitExceeded once more than `maxBytes` went through. */
export function limitStream(source: Readable, maxBytes: number): Readable {
  let seen = 0
  const gate = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length
      if (seen > maxBytes) callback(new LimitExceeded(`body is over the ${maxBytes}-byte limit`))
      else callback(null, chunk)
    },
  })
  // The source is left to its owner: an inbound request's socket still has to carry the 413.
  source.on('error', (error) => gate.destroy(error))
  return source.pipe(gate)
}

/** The announced Content-Length, or undefined when absent or not one clean number. */
export function announcedLength(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) return undefined
  return Number(value)
}
