// The catalog's error catalogue.
import { defineError } from '@bulwark/core'

export const CatalogErrors = {
  productNotFound: defineError('BW_CATALOG_PRODUCT_NOT_FOUND', 404, 'product not found'),
  badCursor: defineError('BW_CATALOG_BAD_CURSOR', 400, 'cursor is not valid'),
  invalidRequest: defineError('BW_VALIDATION_FAILED', 400, 'request failed validation'),
} as const
