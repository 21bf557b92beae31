// The orders service's error catalogue.
import { defineError } from '@bulwark/core'

export const OrdersErrors = {
  notFound: defineError('BW_NOT_FOUND', 404, 'not found'),
  unknownProduct: defineError('BW_ORDERS_UNKNOWN_PRODUCT', 400, 'unknown product'),
  mixedCurrencies: defineError('BW_ORDERS_MIXED_CURRENCIES', 400, 'products are priced in different currencies'),
  tooManyItems: defineError('BW_ORDERS_TOO_MANY_ITEMS', 400, 'too many distinct products'),
  unknownPaymentMethod: defineError('BW_ORDERS_UNKNOWN_PAYMENT_METHOD', 400, 'unknown payment method'),
  paymentRefused: defineError('BW_ORDERS_PAYMENT_REFUSED', 402, 'payment refused'),
  catalogUnavailable: defineError('BW_ORDERS_CATALOG_UNAVAILABLE', 502, 'catalog unavailable'),
  paymentsUnavailable: defineError('BW_ORDERS_PAYMENTS_UNAVAILABLE', 502, 'payments unavailable'),
  badCursor: defineError('BW_ORDERS_BAD_CURSOR', 400, 'cursor is not valid'),
} as const
