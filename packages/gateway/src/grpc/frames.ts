// gRPC message framing (PROTOCOL-HTTP2.md "Length-Prefixed-Message"): each
// message is a 1-byte compressed flag, a 4-byte big-endian length, then the
// message. The gateway cannot read protobuf, but it can hold every message to
// the route's size limit before a byte of it reaches the upstream, refuse
// compressed messages (a small compressed frame can inflate past any limit
// upstream), and refuse a stream that ends inside a frame.
import { Transform, type TransformCallback } from 'node:stream'
import { GatewayErrors } from '../errors.ts'

const PREFIX = 5

/** A pass-through that checks each frame header as it streams by; errors with a 413/400 BulwarkError. */
export function createFrameChecker(maxMessageBytes: number): Transform {
  // Bytes of the current frame still to pass (message body), or -1 while reading a prefix.
  let remaining = -1
  let prefix = Buffer.alloc(0)
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      let offset = 0
      while (offset < chunk.length) {
        if (remaining > 0) {
          const take = Math.min(remaining, chunk.length - offset)
          remaining -= take
          offset += take
          continue
        }
        const need = PREFIX - prefix.length
        prefix = Buffer.concat([prefix, chunk.subarray(offset, offset + need)])
        offset += Math.min(need, chunk.length - offset)
        if (prefix.length < PREFIX) break
        const flag = prefix[0]!
        const length = prefix.readUInt32BE(1)
        prefix = Buffer.alloc(0)
        if (flag === 1) return callback(GatewayErrors.grpcMalformed('compressed gRPC messages are not accepted'))
        if (flag !== 0) return callback(GatewayErrors.grpcMalformed(`gRPC frame flag \`${flag}\` is not valid`))
        if (length > maxMessageBytes) return callback(GatewayErrors.grpcMessageTooLarge(`gRPC message of ${length} bytes is over the ${maxMessageBytes}-byte limit`))
        remaining = length
      }
      callback(null, chunk)
    },
    flush(callback: TransformCallback) {
      if (remaining > 0 || prefix.length > 0) return callback(GatewayErrors.grpcMalformed('request ended inside a gRPC message'))
      callback()
    },
  })
}
