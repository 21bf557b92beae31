// The sidecar's error catalogue. Codes are stable: apps, tests and audit
// reasons match on them. Refusals by the sdk (peer, token, policy, schema,
// duplicate headers) keep the sdk's codes: the sidecar enforces the same rules.
import { defineError } from '@bulwark/core'

export const SidecarErrors = {
  appUnavailable: defineError('BW_SIDECAR_APP_UNAVAILABLE', 502, 'the service behind the sidecar did not answer'),
  appTimeout: defineError('BW_SIDECAR_APP_TIMEOUT', 504, 'the service behind the sidecar did not answer in time'),
  answerTooLarge: defineError('BW_SIDECAR_ANSWER_TOO_LARGE', 502, 'the answer is over the sidecar\'s size limit'),
  bodyTooLarge: defineError('BW_PAYLOAD_TOO_LARGE', 413, 'request body is over the size limit'),
  badPath: defineError('BW_SIDECAR_PATH', 400, 'the request path is ambiguous (encoded slash or dot segment)'),
  egressTarget: defineError('BW_SIDECAR_EGRESS_TARGET', 404, 'no such service to call'),
  egressToken: defineError('BW_SIDECAR_EGRESS_TOKEN', 401, 'egress needs the token of a request this sidecar forwarded, unexpired'),
} as const
