// Runs the real `bulwark` CLI as a child process, the way an operator does.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const CLI_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))

export type CliRun = { code: number | null; stdout: string; stderr: string }

export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<CliRun> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`bulwark ${args.join(' ')} timed out`)) }, timeoutMs)
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}
