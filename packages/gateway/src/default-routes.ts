// The demo route table (used when config has no `routes`). README.md lists
// the same mapping: `/api/<service>/…` goes to `<service>` with `/api` removed.
import type { RouteConfig } from './route-schema.ts'

type RouteInput = Partial<RouteConfig> & Pick<RouteConfig, 'id' | 'path' | 'methods' | 'upstream'>

const page = { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 100 }, cursor: { type: 'string', maxLength: 256 } } }
const id = { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } } }
const identity = { upstream: 'identity', public: true, translate: false, forwardCookies: true, forwardAuthorization: true, contentTypes: ['application/x-www-form-urlencoded', 'application/json'] }
const api = { stripPrefix: '/api' }
const grpc = (upstream: string) => ({ upstream, methods: ['POST'], grpc: true })
// The console signs its users in itself (OIDC through identity, its own session cookie, CSRF tokens):
// public at the edge, cookies passed through, no token translation.
const consoleRoute = { upstream: 'console', public: true, translate: false, forwardCookies: true, contentTypes: ['application/json', 'application/x-www-form-urlencoded'] }

export const DEFAULT_ROUTES: readonly RouteInput[] = [
  { id: 'identity.discovery', path: '/.well-known/openid-configuration', methods: ['GET'], ...identity },
  { id: 'identity.as-metadata', path: '/.well-known/oauth-authorization-server', methods: ['GET'], ...identity },
  { id: 'identity.oauth2', path: '/oauth2/*', methods: ['GET', 'POST'], ...identity },
  { id: 'identity.interaction', path: '/interaction/*', methods: ['GET', 'POST'], ...identity },

  { id: 'console.root', path: '/console', methods: ['GET'], ...consoleRoute },
  { id: 'console.pages', path: '/console/*', methods: ['GET', 'POST'], ...consoleRoute },

  { id: 'catalog.listProducts', path: '/api/catalog/products', methods: ['GET'], upstream: 'catalog', public: true, action: 'catalog.listProducts', query: page, refuseUnknownFields: true, ...api },
  { id: 'catalog.getProduct', path: '/api/catalog/products/:id', methods: ['GET'], upstream: 'catalog', public: true, action: 'catalog.getProduct', params: id, ...api },
  { id: 'catalog.createProduct', path: '/api/catalog/products', methods: ['POST'], upstream: 'catalog', roles: ['admin'], action: 'catalog.createProduct', body: { type: 'object' }, ...api },

  // The same catalog over gRPC (examples/shop/catalog/proto/catalog.proto): same actions, same policy.
  { id: 'catalog.grpc.listProducts', path: '/shop.catalog.v1.Catalog/ListProducts', public: true, action: 'catalog.listProducts', ...grpc('catalog') },
  { id: 'catalog.grpc.getProduct', path: '/shop.catalog.v1.Catalog/GetProduct', public: true, action: 'catalog.getProduct', ...grpc('catalog') },
  { id: 'catalog.grpc.createProduct', path: '/shop.catalog.v1.Catalog/CreateProduct', roles: ['admin'], action: 'catalog.createProduct', ...grpc('catalog') },

  { id: 'users.getMe', path: '/api/users/me', methods: ['GET'], upstream: 'users', action: 'users.getMe', ...api },
  {
    id: 'users.updateMe', path: '/api/users/me', methods: ['PATCH'], upstream: 'users', action: 'users.updateMe', refuseUnknownFields: true, ...api,
    body: { type: 'object', properties: { displayName: { type: 'string', maxLength: 200 }, email: { type: 'string', maxLength: 320 }, address: { type: ['string', 'object'], maxLength: 500, additionalProperties: true } } },
  },
  { id: 'users.deleteMe', path: '/api/users/me', methods: ['DELETE'], upstream: 'users', action: 'users.deleteMe', ...api },
  { id: 'users.exportMe', path: '/api/users/me/export', methods: ['GET'], upstream: 'users', action: 'users.exportMe', ...api },
  { id: 'users.listUsers', path: '/api/admin/users', methods: ['GET'], upstream: 'users', roles: ['admin'], action: 'users.listUsers', query: page, ...api },

  {
    id: 'payments.createMethod', path: '/api/payments/methods', methods: ['POST'], upstream: 'payments', action: 'payments.createMethod', refuseUnknownFields: true, ...api,
    body: {
      type: 'object', required: ['cardNumber', 'expMonth', 'expYear', 'cvc'],
      properties: { cardNumber: { type: 'string', pattern: '^[0-9]{12,19}$' }, expMonth: { type: 'integer', minimum: 1, maximum: 12 }, expYear: { type: 'integer', minimum: 2000, maximum: 2100 }, cvc: { type: 'string', pattern: '^[0-9]{3,4}$' } },
    },
  },
  { id: 'payments.listMethods', path: '/api/payments/methods', methods: ['GET'], upstream: 'payments', action: 'payments.listMethods', ...api },
  { id: 'payments.deleteMethod', path: '/api/payments/methods/:id', methods: ['DELETE'], upstream: 'payments', action: 'payments.deleteMethod', params: id, ...api },

  {
    id: 'orders.create', path: '/api/orders', methods: ['POST'], upstream: 'orders', action: 'orders.create', refuseUnknownFields: true, ...api,
    body: {
      type: 'object', required: ['items', 'paymentMethodId'],
      properties: {
        items: { type: 'array', minItems: 1, maxItems: 100, items: { type: 'object', required: ['productId', 'quantity'], properties: { productId: { type: 'string', maxLength: 64 }, quantity: { type: 'integer', minimum: 1, maximum: 1000 } } } },
        paymentMethodId: { type: 'string', maxLength: 64 },
      },
    },
  },
  { id: 'orders.list', path: '/api/orders', methods: ['GET'], upstream: 'orders', action: 'orders.list', query: page, refuseUnknownFields: true, ...api },
  { id: 'orders.get', path: '/api/orders/:id', methods: ['GET'], upstream: 'orders', action: 'orders.get', params: id, ...api },
]
