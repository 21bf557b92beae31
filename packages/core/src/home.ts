// The Bulwark home (`.bulwark/` or $BULWARK_HOME): where keys, config, data
// and run state live. Secret files are written atomically with mode 0600.
import { mkdirSync, renameSync, writeFileSync, chmodSync, existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'

export function resolveHome(environment: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return resolve(cwd, environment.BULWARK_HOME && environment.BULWARK_HOME.length > 0 ? environment.BULWARK_HOME : '.bulwark')
}

/** Every path in the home, named once so components and the CLI agree. */
export function homePaths(home: string) {
  return {
    home,
    config: join(home, 'config.json'),
    caDir: join(home, 'ca'),
    rootCert: join(home, 'ca', 'root.crt'),
    rootKey: join(home, 'ca', 'root.key'),
    intermediateCert: join(home, 'ca', 'intermediate.crt'),
    intermediateKey: join(home, 'ca', 'intermediate.key'),
    operatorDir: join(home, 'operator'),
    operatorCert: join(home, 'operator', 'operator.crt'),
    operatorKey: join(home, 'operator', 'operator.key'),
    /** Master key material: wraps the vault's and components' key-encryption keys. */
    masterKey: join(home, 'keys', 'master.key'),
    dataDir: join(home, 'data'),
    database: (component: string) => join(home, 'data', `${component}.db`),
    componentDir: (component: string) => join(home, 'data', component),
    runDir: join(home, 'run'),
    runState: join(home, 'run', 'state.json'),
    logsDir: join(home, 'logs'),
    demoCredentials: join(home, 'demo-credentials.json'),
  }
}

export type HomePaths = ReturnType<typeof homePaths>

/** Writes a file atomically (temp + rename) with owner-only permissions. */
export function writeSecretFile(path: string, content: string | Uint8Array): void {
  writeFileAtomic(path, content, 0o600)
}

export function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  writeFileSync(temp, content, { mode, flag: 'wx' })
  chmodSync(temp, mode)
  renameSync(temp, path)
}

export function homeExists(home: string): boolean {
  return existsSync(homePaths(home).config)
}
