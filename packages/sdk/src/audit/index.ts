// @bulwark/sdk/audit: the emitter components send security events through, and
// the Merkle-log primitives (RFC 6962 hashing, proofs, signed tree heads,
// export verification) shared by the audit service and the CLI.
//
// @example
//   const audit = createAuditEmitter({ url: peer.url, dispatcher: peer.dispatcher, spoolPath, component: 'vault', log })
//   audit.emit({ type: 'secret.read', actor: { kind: 'service', spiffeId }, action: 'kv.read', resource: path, outcome: 'success' })
export * from './emitter.ts'
export * from './spool.ts'
export * from './canonical-json.ts'
export * from './merkle-hash.ts'
export * from './merkle-tree.ts'
export * from './merkle-verify.ts'
export * from './tree-head.ts'
export * from './entry.ts'
export * from './strict-lines.ts'
export * from './export-verify.ts'
