// Demo products, inserted once when the catalog is empty. Prices in cents.
import type { CatalogStore, NewProduct } from './store.ts'

export const SEED_PRODUCTS: readonly NewProduct[] = [
  { name: 'Hardware security key', description: 'FIDO2 key for phishing-resistant MFA', price: 4500 },
  { name: 'Privacy screen filter', description: '14 inch laptop privacy filter', price: 2999 },
  { name: 'Webcam cover (3 pack)', description: 'Slide covers for laptop cameras', price: 599 },
  { name: 'Faraday pouch', description: 'Blocks RF for phones and key fobs', price: 1899 },
  { name: 'Encrypted USB drive 64 GB', description: 'Hardware AES-256 with keypad', price: 8900 },
  { name: 'Cable lock', description: 'Kensington-slot laptop lock', price: 2450 },
  { name: 'Paper shredder', description: 'Cross-cut, P-4 security level', price: 6400 },
  { name: 'Threat modeling cards', description: 'STRIDE card deck for workshops', price: 1500 },
  { name: 'Security handbook', description: 'Zero trust architecture field guide', price: 3900 },
  { name: 'USB data blocker', description: 'Charge-only adapter against juice jacking', price: 799 },
  { name: 'Password manager (1 year)', description: 'Family plan voucher', price: 3600 },
  { name: 'Tamper-evident stickers', description: '100 void-pattern labels', price: 1199 },
]

/** Seeds the demo products when the catalog is empty; replicas starting together seed once. */
export function seedCatalog(store: CatalogStore, now: number): Promise<number> {
  return store.seedIfEmpty(SEED_PRODUCTS, now)
}
