// The console's public surface (for tests and tools); the process is main.ts.
export { createConsoleServer, CSP, type ConsoleDeps } from './server.ts'
export { ConsoleConfigSchema, type ConsoleConfig } from './config.ts'
export { createSessionStore, csrfMatches, hostCookie, readCookie, SESSION_COOKIE, type Session, type SessionStore } from './sessions.ts'
export { parseAuditQuery, searchAudit } from './audit-search.ts'
export { checkStepUp, planAction } from './actions.ts'
