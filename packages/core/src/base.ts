// @bulwark/core/base: the part of core a process needs when it serves
// nothing itself (the `bulwark` command, the supervisor): errors, config,
// SPIFFE/SVID/mTLS client helpers, the home and platform config. It leaves out
// Fastify, pino, prom-client and SQLite, which would cost the supervisor
// ~40 MB of resident memory for nothing (bench/system).
export * from './errors.ts'
export * from './config.ts'
export * from './clock.ts'
export * from './spiffe.ts'
export * from './svid.ts'
export * from './tls.ts'
export * from './home.ts'
export * from './platform-config.ts'
export * from './postgres-url.ts'
export * from './service-config.ts'
export * from './bootstrap.ts'
export * from './grpc-status.ts'
export * from './http-client.ts'
export * from './replica-dispatch.ts'
