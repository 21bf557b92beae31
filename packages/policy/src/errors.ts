// The policy service's error catalogue.
import { defineError } from '@bulwark/core'

export const PolicyErrors = {
  invalid: defineError('BW_POLICY_INVALID', 422, 'the policy set failed validation'),
  lockout: defineError('BW_POLICY_LOCKOUT', 422, 'the policy set would deny the operator its admin API'),
  tooLarge: defineError('BW_POLICY_TOO_LARGE', 413, 'the policy set is too large'),
  unknownVersion: defineError('BW_POLICY_VERSION_UNKNOWN', 404, 'no such policy set version'),
  denied: defineError('BW_AUTHZ_DENIED', 403, 'denied by policy'),
  noActiveSet: defineError('BW_POLICY_NO_ACTIVE_SET', 503, 'no policy set is active'),
} as const
