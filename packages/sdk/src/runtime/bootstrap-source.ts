// Where a component's BootstrapMessage comes from: the supervisor's IPC
// channel, `bulwark run` in the same process (Kubernetes), or a 0600 JSON file
// named by BULWARK_BOOTSTRAP_FILE. Never argv, never the environment itself.
import { readFileSync } from 'node:fs'
import { isBootstrapMessage, type BootstrapMessage } from '@bulwark/core'

let provided: BootstrapMessage | undefined

/** `bulwark run`: the bootstrap, already read and checked, handed over in-process (it may hold resolved passwords). */
export function provideBootstrap(bootstrap: BootstrapMessage): void {
  provided = bootstrap
}

export async function receiveBootstrap(timeoutMs = 30_000): Promise<BootstrapMessage> {
  if (provided) return provided
  const file = process.env.BULWARK_BOOTSTRAP_FILE
  if (file) {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'))
    if (!isBootstrapMessage(parsed)) throw new Error(`bootstrap file \`${file}\` is not a bootstrap message`)
    return parsed
  }
  if (typeof process.send !== 'function') {
    throw new Error('no bootstrap: start components with `bulwark up`, or set BULWARK_BOOTSTRAP_FILE')
  }
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage)
      reject(new Error(`no bootstrap message from the supervisor within ${timeoutMs} ms`))
    }, timeoutMs)
    function onMessage(message: unknown) {
      if (!isBootstrapMessage(message)) return
      clearTimeout(timer)
      process.off('message', onMessage)
      resolve(message)
    }
    process.on('message', onMessage)
  })
}

export function tellSupervisor(message: { type: 'ready'; url: string } | { type: 'fatal'; message: string }): void {
  if (typeof process.send === 'function' && process.connected) process.send(message)
}
