// The users service's error catalogue.
import { defineError } from '@bulwark/core'

export const UsersErrors = {
  erased: defineError('BW_USERS_ERASED', 410, 'this account\'s personal data has been erased'),
  conflict: defineError('BW_USERS_CONFLICT', 409, 'the profile kept changing: try again'),
  badCursor: defineError('BW_USERS_BAD_CURSOR', 400, 'cursor is not valid'),
} as const
