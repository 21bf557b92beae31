// gRPC status codes (grpc/grpc doc/statuscodes.md) and the one mapping from
// the platform's HTTP-style error statuses to them, shared by the gateway and
// the sdk so a refusal reads the same whichever hop made it. No gRPC library
// here: the gateway speaks gRPC framing with node:http2 and must not load one.

export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const

/**
 * The gRPC status for an HTTP status of a BulwarkError: 401→UNAUTHENTICATED,
 * 403→PERMISSION_DENIED, 429→RESOURCE_EXHAUSTED, 400/413/414/415/431→INVALID_ARGUMENT,
 * 404→NOT_FOUND, 405→UNIMPLEMENTED, 503→UNAVAILABLE, 504→DEADLINE_EXCEEDED, anything else INTERNAL.
 */
export function grpcStatusOf(httpStatus: number): number {
  switch (httpStatus) {
    case 400: case 413: case 414: case 415: case 422: case 431: return GrpcStatus.INVALID_ARGUMENT
    case 401: return GrpcStatus.UNAUTHENTICATED
    case 403: return GrpcStatus.PERMISSION_DENIED
    case 404: return GrpcStatus.NOT_FOUND
    case 405: return GrpcStatus.UNIMPLEMENTED
    case 409: return GrpcStatus.ALREADY_EXISTS
    case 423: case 429: return GrpcStatus.RESOURCE_EXHAUSTED
    case 502: case 503: return GrpcStatus.UNAVAILABLE
    case 504: return GrpcStatus.DEADLINE_EXCEEDED
    default: return GrpcStatus.INTERNAL
  }
}

/** `grpc-message` is percent-encoded (PROTOCOL-HTTP2.md "Status-Message"): printable ASCII except `%` stays as is. */
export function encodeGrpcMessage(message: string): string {
  let out = ''
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}
