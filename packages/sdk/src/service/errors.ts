// The service sdk's error catalogue. Codes are stable: clients, tests and
// audit reasons match on them.
import { defineError } from '@bulwark/core'

export const ServiceErrors = {
  duplicateHeader: defineError('BW_DUPLICATE_HEADER', 400, 'a request header that must appear once appears more than once'),
  peerMissing: defineError('BW_PEER_MISSING', 401, 'a client certificate with a SPIFFE ID is required'),
  peerDenied: defineError('BW_PEER_IDENTITY', 403, 'peer identity not allowed'),
  tokenMissing: defineError('BW_AUTHN_TOKEN_MISSING', 401, 'a bearer access token is required'),
  tokenInvalid: defineError('BW_AUTHN_TOKEN_INVALID', 401, 'access token is invalid'),
  tokenExpired: defineError('BW_AUTHN_TOKEN_EXPIRED', 401, 'access token has expired'),
  tokenAudience: defineError('BW_AUTHN_TOKEN_AUDIENCE', 401, 'access token is not addressed to this service'),
  tokenType: defineError('BW_AUTHN_TOKEN_TYPE', 401, 'token is not an access token'),
  tokenActor: defineError('BW_AUTHN_TOKEN_ACTOR', 401, 'access token was not issued to the calling workload'),
  tokenRevoked: defineError('BW_AUTHN_TOKEN_REVOKED', 401, 'access token has been revoked'),
  keysUnavailable: defineError('BW_AUTHN_KEYS_UNAVAILABLE', 503, 'token signing keys unavailable'),
  revocationsUnavailable: defineError('BW_AUTHN_REVOCATIONS_UNAVAILABLE', 503, 'revocation feed unavailable'),
  denied: defineError('BW_AUTHZ_DENIED', 403, 'denied by policy'),
  policyError: defineError('BW_AUTHZ_ERROR', 403, 'policy evaluation failed; denied'),
  notFound: defineError('BW_NOT_FOUND', 404, 'not found'),
  exchangeRefused: defineError('BW_EXCHANGE_REFUSED', 403, 'token exchange refused'),
  exchangeFailed: defineError('BW_EXCHANGE_FAILED', 502, 'token exchange failed'),
  upstreamFailed: defineError('BW_UPSTREAM_FAILED', 502, 'call to another service failed'),
  upstreamUnavailable: defineError('BW_UPSTREAM_UNAVAILABLE', 503, 'the called service keeps failing; try later'),
} as const
