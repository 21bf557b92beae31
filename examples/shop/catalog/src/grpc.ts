// The catalog's gRPC API (proto/catalog.proto, package shop.catalog.v1),
// served next to the REST API on its own mTLS listener (`grpcPort`) with the
// sdk's createSecureGrpcServer: the same store, the same Cedar actions and the
// same input rules (the REST JSON Schemas of routes.ts, checked with ajv), so
// the two APIs cannot drift apart in what they allow.
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import grpc from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import type { Clock } from '@bulwark/core'
import type { GrpcCallContext, SecureGrpcServer } from '@bulwark/sdk/grpc'
import { CatalogErrors } from './errors.ts'
import { decodeCursor, encodeCursor, schemas } from './routes.ts'
import type { CatalogStore, NewProduct } from './store.ts'

export const CATALOG_PROTO = fileURLToPath(new URL('../proto/catalog.proto', import.meta.url))

/** proto-loader options shared by the server and its clients: snake_case fields become camelCase, int64 a number. */
export const PROTO_OPTIONS = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true } as const

/** The `Catalog` service client/definition from the .proto, loaded at run time. */
export function loadCatalogProto(): grpc.ServiceClientConstructor {
  const pkg = grpc.loadPackageDefinition(loadSync(CATALOG_PROTO, PROTO_OPTIONS)) as unknown as { shop: { catalog: { v1: { Catalog: grpc.ServiceClientConstructor } } } }
  return pkg.shop.catalog.v1.Catalog
}

const CATALOG = { type: 'Catalog', id: 'catalog' }
const ajv = new Ajv({ allErrors: false, strict: false })
const checkPage = ajv.compile(schemas.page)
const checkId = ajv.compile(schemas.id)
const checkCreate = ajv.compile(schemas.create)

function valid(check: ReturnType<typeof ajv.compile>, value: unknown): void {
  if (check(value)) return
  const e = check.errors?.[0]
  throw CatalogErrors.invalidRequest(`request failed validation: ${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}`)
}

type ProductMessage = { id: string; name: string; description: string; price: number; currency: string; createdAt: string }

export function registerCatalogGrpc(server: SecureGrpcServer, deps: { store: CatalogStore; clock: Clock; defaultPageSize: number }): void {
  const { store } = deps
  server.addService(loadCatalogProto().service, {
    ListProducts: {
      auth: 'optional',
      async handler(req: { pageSize: number; cursor: string }, call: GrpcCallContext) {
        const page = { ...(req.pageSize !== 0 ? { limit: req.pageSize } : {}), ...(req.cursor !== '' ? { cursor: req.cursor } : {}) }
        valid(checkPage, page)
        call.authorize('catalog.listProducts', CATALOG)
        const result = await store.list(page.limit ?? deps.defaultPageSize, decodeCursor(page.cursor))
        return { products: result.items satisfies ProductMessage[], nextCursor: result.more && result.lastSeq !== undefined ? encodeCursor(result.lastSeq) : '' }
      },
    },
    GetProduct: {
      auth: 'optional',
      async handler(req: { id: string }, call: GrpcCallContext) {
        valid(checkId, { id: req.id })
        call.authorize('catalog.getProduct', { type: 'Product', id: req.id }, [{ uid: { type: 'Product', id: req.id }, attrs: {}, parents: [CATALOG] }])
        const product = await store.get(req.id)
        if (!product) throw CatalogErrors.productNotFound(`product \`${req.id}\` not found`)
        return product satisfies ProductMessage
      },
    },
    CreateProduct: {
      async handler(req: { name: string; description: string; price: number; currency: string }, call: GrpcCallContext) {
        // proto3 has no "absent": empty optional strings mean "not given", as an absent JSON field does over REST.
        const input: NewProduct = { name: req.name, price: req.price, ...(req.description ? { description: req.description } : {}), ...(req.currency ? { currency: req.currency } : {}) }
        valid(checkCreate, input)
        call.authorize('catalog.createProduct', CATALOG)
        const product = await store.create(input, deps.clock.now())
        return product satisfies ProductMessage
      },
    },
  })
}
