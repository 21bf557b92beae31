// One error type for the whole platform. Codes are stable (tests and clients
// match on them); `expose` decides whether the detail may leave the process.
// Rendering follows RFC 9457 (problem+json).

export type ProblemDetails = {
  type: string
  title: string
  status: number
  detail: string
  instance: string
  code?: string
  errors?: ReadonlyArray<{ path: string; message: string }>
  [extension: string]: unknown
}

export type BulwarkErrorOptions = {
  cause?: unknown
  /** Extra problem members, e.g. `errors` for validation failures. Never put secrets here. */
  extensions?: Record<string, unknown>
  /** Extra response headers such as `Retry-After` or `WWW-Authenticate`. */
  headers?: Record<string, string>
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone', 411: 'Length Required',
  412: 'Precondition Failed', 413: 'Content Too Large', 414: 'URI Too Long', 415: 'Unsupported Media Type',
  422: 'Unprocessable Content', 423: 'Locked', 428: 'Precondition Required', 429: 'Too Many Requests',
  431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
}

export class BulwarkError extends Error {
  readonly code: string
  readonly status: number
  readonly expose: boolean
  readonly extensions: Record<string, unknown>
  readonly headers: Record<string, string>

  constructor(code: string, status: number, message: string, options: BulwarkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'BulwarkError'
    this.code = code
    this.status = status
    this.expose = status < 500
    this.extensions = options.extensions ?? {}
    this.headers = options.headers ?? {}
  }
}

export function isBulwarkError(value: unknown): value is BulwarkError {
  return value instanceof BulwarkError
}

/** Declares a catalogue entry: `const E = defineError('BW_X', 400, 'msg')`, then `throw E()` or `throw E('detail')`. */
export function defineError(code: string, status: number, defaultMessage: string) {
  const make = (message: string = defaultMessage, options?: BulwarkErrorOptions) =>
    new BulwarkError(code, status, message, options)
  return Object.assign(make, { code, status })
}

export function statusTitle(status: number): string {
  return TITLES[status] ?? (status >= 500 ? 'Internal Server Error' : 'Error')
}

/**
 * Renders any thrown value as problem+json. Non-exposed errors become a bare
 * 500 carrying only the request id: their detail belongs in the log.
 */
export function toProblem(error: unknown, requestId: string): ProblemDetails {
  if (isBulwarkError(error) && error.expose) {
    return {
      ...error.extensions,
      type: `https://bulwark.dev/problems/${error.code.toLowerCase().replaceAll('_', '-')}`,
      title: statusTitle(error.status),
      status: error.status,
      detail: error.message,
      instance: requestId,
      code: error.code,
    }
  }
  const status = isBulwarkError(error) ? error.status : 500
  return {
    type: 'about:blank',
    title: statusTitle(status),
    status,
    detail: 'internal error; quote the request id to an operator',
    instance: requestId,
    code: isBulwarkError(error) ? error.code : 'BW_INTERNAL',
  }
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** Catalogue of the errors core itself raises. */
export const CoreErrors = {
  badRequest: defineError('BW_BAD_REQUEST', 400, 'bad request'),
  validation: defineError('BW_VALIDATION_FAILED', 400, 'request failed validation'),
  unauthenticated: defineError('BW_UNAUTHENTICATED', 401, 'authentication required'),
  forbidden: defineError('BW_FORBIDDEN', 403, 'forbidden'),
  notFound: defineError('BW_NOT_FOUND', 404, 'not found'),
  conflict: defineError('BW_CONFLICT', 409, 'conflict'),
  tooLarge: defineError('BW_PAYLOAD_TOO_LARGE', 413, 'payload too large'),
  unsupportedMediaType: defineError('BW_UNSUPPORTED_MEDIA_TYPE', 415, 'unsupported media type'),
  rateLimited: defineError('BW_RATE_LIMITED', 429, 'too many requests'),
  internal: defineError('BW_INTERNAL', 500, 'internal error'),
  unavailable: defineError('BW_UNAVAILABLE', 503, 'service unavailable'),
  config: defineError('BW_CONFIG_INVALID', 500, 'configuration is invalid'),
  peerIdentity: defineError('BW_PEER_IDENTITY', 403, 'peer identity not allowed'),
} as const
