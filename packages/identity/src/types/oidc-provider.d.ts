// oidc-provider ships no type declarations; this is the narrow surface we use.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'

  export type AnyObject = Record<string, any>

  export interface OIDCContext {
    client?: AnyObject & { clientId: string; scope?: string; clientName?: string; metadata(): AnyObject; grantTypeAllowed(type: string): boolean }
    params?: AnyObject
    session?: AnyObject & { accountId?: string; grantIdFor(clientId: string): string | undefined }
    result?: AnyObject
    route?: string
    entities: AnyObject
    requestParamScopes: Set<string>
    requestParamClaims: Set<string>
    resourceServers?: Record<string, AnyObject>
    provider: Provider
    entity(name: string, value: unknown): void
    [key: string]: any
  }

  export interface KoaContextWithOIDC {
    oidc: OIDCContext
    req: IncomingMessage
    res: ServerResponse
    body: any
    status: number
    path: string
    method: string
    type: string
    ip: string
    headers: AnyObject
    set(name: string, value: string): void
    get(name: string): string
    [key: string]: any
  }

  export type Middleware = (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void> | void

  export interface Interaction extends AnyObject {
    uid: string
    prompt: { name: string; reasons: string[]; details: AnyObject }
    params: AnyObject
    session?: { accountId?: string; uid?: string }
    grantId?: string
    lastSubmission?: AnyObject
    exp: number
  }

  export class Provider {
    constructor(issuer: string, configuration: AnyObject)
    /** The request being handled (oidc-provider keeps it in AsyncLocalStorage); undefined outside its routes. */
    static readonly ctx: KoaContextWithOIDC | undefined
    emit(event: string, ...args: unknown[]): boolean
    issuer: string
    proxy: boolean
    maxIpsCount: number
    keys: string[]
    callback(): (req: IncomingMessage, res: ServerResponse) => void
    use(middleware: Middleware): this
    on(event: string, listener: (...args: any[]) => void): this
    registerGrantType(name: string, handler: (ctx: KoaContextWithOIDC) => Promise<void>, params?: string | string[] | Set<string>, dupes?: string | string[]): void
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>
    interactionResult(req: IncomingMessage, res: ServerResponse, result: AnyObject, options?: { mergeWithLastSubmission?: boolean }): Promise<string>
    Client: { find(id: string): Promise<(AnyObject & { clientId: string }) | undefined>; prototype: AnyObject }
    Grant: any
    AccessToken: any
    Session: any
    ResourceServer: any
  }

  export const interactionPolicy: {
    base(): any
    Check: (new (reason: string, description: string, error: string | ((ctx: KoaContextWithOIDC) => unknown), check?: (ctx: KoaContextWithOIDC) => unknown) => any) & { REQUEST_PROMPT: boolean; NO_NEED_TO_PROMPT: boolean }
  }
  export const errors: Record<string, new (description?: string) => Error & { error: string; error_description?: string; status: number; statusCode: number }>
  export default Provider
}
