// Identity's error catalogue (problem+json outside the OAuth endpoints).
import { defineError } from '@bulwark/core'

export const IdentityErrors = {
  userNotFound: defineError('BW_IDENTITY_USER_NOT_FOUND', 404, 'user not found'),
  clientNotFound: defineError('BW_IDENTITY_CLIENT_NOT_FOUND', 404, 'client not found'),
  subjectNotFound: defineError('BW_IDENTITY_SUBJECT_NOT_FOUND', 404, 'no user or client with that id'),
  clientExists: defineError('BW_IDENTITY_CLIENT_EXISTS', 409, 'client already exists'),
  userExists: defineError('BW_IDENTITY_USER_EXISTS', 409, 'user already exists'),
  weakPassword: defineError('BW_IDENTITY_WEAK_PASSWORD', 400, 'password does not meet the policy'),
  interactionNotFound: defineError('BW_IDENTITY_INTERACTION', 400, 'login session expired or invalid; start again'),
  csrf: defineError('BW_IDENTITY_CSRF', 403, 'form token missing or invalid'),
  badCursor: defineError('BW_IDENTITY_BAD_CURSOR', 400, 'cursor is not valid'),
} as const
