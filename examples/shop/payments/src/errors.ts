// The payments service's error catalogue. Messages never carry card data.
import { defineError } from '@bulwark/core'

export const PaymentsErrors = {
  cardInvalid: defineError('BW_PAYMENTS_CARD_INVALID', 400, 'card number is not valid'),
  cardExpired: defineError('BW_PAYMENTS_CARD_EXPIRED', 400, 'card has expired'),
  tooManyMethods: defineError('BW_PAYMENTS_TOO_MANY_METHODS', 409, 'too many payment methods'),
  methodNotFound: defineError('BW_PAYMENTS_METHOD_NOT_FOUND', 404, 'payment method not found'),
  amountTooLarge: defineError('BW_PAYMENTS_AMOUNT_TOO_LARGE', 400, 'amount exceeds the limit'),
  chargeConflict: defineError('BW_PAYMENTS_CHARGE_CONFLICT', 409, 'order already charged differently'),
} as const
