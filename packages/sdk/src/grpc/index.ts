// @bulwark/sdk/grpc: serve and call gRPC on the platform (grpc-js on the SVID).
//   const server = await createSecureGrpcServer(rt)         // mTLS + call policy + internal token per call
//   server.addService(pkg.shop.catalog.v1.Catalog.service, { GetProduct: { auth: 'optional', handler } })
//   await server.listen(rt.bootstrap.listen.host, config.grpcPort)
//   await createGrpcCaller(rt).unary('catalog', pkg.shop.catalog.v1.Catalog, 'GetProduct', { id }, { subjectToken })
// A separate subpath so services without gRPC never load grpc-js.
export { createSecureGrpcServer, toGrpcError, type GrpcCallContext, type GrpcUnaryMethod, type SecureGrpcServer, type SecureGrpcServerOptions } from './server.ts'
export { createGrpcCaller, type GrpcCallOptions, type GrpcCaller } from './client.ts'
export { svidChannelCredentials, svidServerCredentials } from './credentials.ts'
