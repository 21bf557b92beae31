// What a failed vault call throws: status, code and the server's detail
// (which never carries a value). Request bodies are never part of it.
export class VaultError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, detail: string) {
    super(`vault: ${status} ${code}: ${detail}`)
    this.name = 'VaultError'
    this.status = status
    this.code = code
  }
}
