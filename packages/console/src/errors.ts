// Error catalogue of the console.
import { defineError } from '@bulwark/core'

export const ConsoleErrors = {
  signInRequired: defineError('BW_CONSOLE_SIGN_IN_REQUIRED', 401, 'sign in to the console first'),
  csrf: defineError('BW_CONSOLE_CSRF', 403, 'missing or wrong CSRF token'),
  badRequest: defineError('BW_CONSOLE_BAD_REQUEST', 400, 'bad request'),
  actionRefused: defineError('BW_CONSOLE_ACTION_REFUSED', 400, 'action refused'),
  upstream: defineError('BW_CONSOLE_UPSTREAM', 502, 'a platform component did not answer as expected'),
} as const
