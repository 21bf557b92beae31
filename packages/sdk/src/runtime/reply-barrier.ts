// The reply barrier: no answer leaves a component before the audit events its
// request emitted are durable. Every request runs in its own audit scope (the
// server's request listener is wrapped, so hooks, handlers and anything they
// call are inside it), and an onSend hook waits for the scope's events to be
// committed to the spool. A request that emitted nothing, or whose events are
// durable already, passes straight through. Replies that bypass Fastify's send
// (a hijacked reply, e.g. identity's oidc-provider) call `audit.barrier()`
// themselves before they answer.
import type { FastifyInstance } from 'fastify'
import type { AuditEmitter } from '../audit/index.ts'

export function installReplyBarrier(app: FastifyInstance, audit: Pick<AuditEmitter, 'scoped' | 'barrier'>): void {
  const server = app.server
  const listeners = server.listeners('request') as Array<(...args: unknown[]) => void>
  server.removeAllListeners('request')
  for (const listener of listeners) {
    server.on('request', (req: unknown, res: unknown) => audit.scoped(() => listener.call(server, req, res)))
  }
  app.addHook('onSend', (_request, _reply, payload, done) => {
    const wait = audit.barrier()
    if (!wait) return done(null, payload)
    // The barrier never rejects: a spool that refuses (full) counts the loss and lets the reply go.
    void wait.then(() => done(null, payload))
  })
}
