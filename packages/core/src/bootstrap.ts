// What the supervisor (`bulwark up`) tells a component it starts, and what the
// component answers, over the Node IPC channel. The join token travels here,
// never in argv or the environment.
/**
 * A peer component: its URL, SPIFFE ID and, when it serves gRPC, its gRPC
 * listener's URL. A peer running as several replicas also lists every
 * replica's URL in `urls` (the first is `url`); clients spread calls over
 * them and fail over between them.
 */
export type PeerInfo = { url: string; spiffeId: string; grpcUrl?: string; urls?: string[] }

export type BootstrapMessage = {
  type: 'bootstrap'
  component: string
  home: string
  trustDomain: string
  spiffeId: string
  /** `reusePort`: replicas of the gateway share its one public port (SO_REUSEPORT; the kernel spreads connections). */
  listen: { host: string; port: number; reusePort?: boolean }
  /** Which replica of `component` this process is, from 1; absent means 1 (the only one). */
  replica?: number
  /** The CA's URL; the CA's server certificate verifies against `.bulwark/ca/root.crt`. */
  caUrl: string
  /** One-time join token for the first SVID. Absent for the CA itself. */
  joinToken?: string
  /** The gateway's public URL: the OIDC issuer. */
  publicUrl: string
  svidTtlSeconds: number
  /** Every other component by name. */
  peers: Record<string, PeerInfo>
  /** This component's own section of config.json. */
  config: Record<string, unknown>
  demo: boolean
  /**
   * Outside the supervisor (Kubernetes, `bulwark run`): the first SVID comes
   * from attesting the pod's projected service-account token at the CA.
   */
  attestation?: { kubernetes: { tokenFile: string } }
  /** A plain-HTTP listener that serves only `/healthz` and `/readyz` (kubelet probes cannot do mTLS). */
  healthListen?: { host: string; port: number }
  /**
   * Where the component keeps its state: `postgres.url` (password resolved in;
   * IPC is private to the pair, and nothing logs this field) selects
   * PostgreSQL, absent means the embedded SQLite file.
   */
  storage?: { postgres?: { url: string } }
}

export type ComponentMessage =
  | { type: 'ready'; url: string }
  | { type: 'fatal'; message: string }

export function isBootstrapMessage(value: unknown): value is BootstrapMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'bootstrap'
}
