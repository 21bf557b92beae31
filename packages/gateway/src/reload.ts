// Route reloads without a restart: a change to the watched file (config.json
// or `routesFile`) or SIGHUP re-reads the table; a table that does not load or
// compile is refused (logged and audited) and the running one stays.
import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { dirname, basename } from 'node:path'
import type { AuditSink, Logger } from '@bulwark/core'

export type RouteSource = {
  /** Files whose change triggers a reload. */
  files: readonly string[]
  /** Reads the new table (undefined = the demo table); throws when it cannot. */
  read(): readonly unknown[] | undefined
  /** Installs a table; throws (keeping the old one) when it is bad. */
  apply(routes: readonly unknown[] | undefined): void
  log: Logger
  audit: AuditSink
  debounceMs?: number
}

/** Reads the gateway's route table from config.json (`components.gateway.routes`/`routesFile`). */
export function readRoutesFromConfig(configPath: string): readonly unknown[] | undefined {
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { components?: { gateway?: { routes?: unknown[]; routesFile?: string } } }
  const section = config.components?.gateway ?? {}
  if (section.routesFile) return readRoutesFile(section.routesFile)
  return section.routes
}

export function readRoutesFile(path: string): readonly unknown[] {
  const value = JSON.parse(readFileSync(path, 'utf8')) as unknown
  const routes = Array.isArray(value) ? value : (value as { routes?: unknown }).routes
  if (!Array.isArray(routes)) throw new TypeError(`\`${path}\` holds no route array`)
  return routes
}

export function watchRoutes(source: RouteSource): { reload(): boolean; stop(): void } {
  let timer: NodeJS.Timeout | undefined
  const reload = (): boolean => {
    try {
      source.apply(source.read())
      source.audit.emit({ type: 'config.reloaded', actor: { kind: 'operator' }, action: 'routes.reload', outcome: 'success' })
      return true
    } catch (error) {
      source.log.error({ err: (error as Error).message }, 'route reload refused; keeping the running table')
      source.audit.emit({ type: 'config.rejected', actor: { kind: 'operator' }, action: 'routes.reload', outcome: 'failure', reason: 'BW_CONFIG_INVALID' })
      return false
    }
  }
  const schedule = () => {
    if (timer) clearTimeout(timer)
    timer = setTimeout(reload, source.debounceMs ?? 200)
    timer.unref()
  }
  // Watch the folders: editors and atomic writes replace the file (a new inode).
  const watchers: FSWatcher[] = []
  for (const file of source.files) {
    try {
      const name = basename(file)
      const watcher = watch(dirname(file), { persistent: false }, (_event, changed) => { if (changed === null || changed === name) schedule() })
      watcher.on('error', () => {})
      watchers.push(watcher)
    } catch (error) {
      source.log.warn({ file, err: (error as Error).message }, 'cannot watch route source; SIGHUP still reloads')
    }
  }
  process.on('SIGHUP', schedule)
  return {
    reload,
    stop() {
      if (timer) clearTimeout(timer)
      for (const watcher of watchers) watcher.close()
      process.off('SIGHUP', schedule)
    },
  }
}
