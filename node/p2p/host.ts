import { noise, type ICryptoInterface } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { bootstrap } from "@libp2p/bootstrap";
import { identify } from "@libp2p/identify";
import type { PrivateKey } from "@libp2p/interface";
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT } from "@libp2p/kad-dht";
import { ping, type Ping } from "@libp2p/ping";
import { tcp } from "@libp2p/tcp";
import type { Identify } from "@libp2p/identify";
import { createLibp2p, type Libp2p } from "libp2p";
import { nativeNoiseCrypto } from "./noise-crypto.js";

/** Which part a node plays: lessors store and serve (DHT server), users put/get (DHT client), watchers challenge. */
export type Role = "user" | "lessor" | "watcher";

export const DHT_PROTOCOL = "/coffer/kad/1.0.0";

export interface HostLimits {
  /** Total open connections before libp2p prunes. */
  maxConnections: number;
  /** Inbound connections still in the upgrade (Noise+Yamux) phase. */
  maxIncomingPendingConnections: number;
  /** Inbound connection attempts per host per second before the dialer is refused. */
  inboundConnectionThreshold: number;
  /** Time to dial one address. */
  dialTimeoutMs: number;
}

export const DEFAULT_HOST_LIMITS: HostLimits = {
  maxConnections: 200,
  maxIncomingPendingConnections: 16,
  inboundConnectionThreshold: 20,
  dialTimeoutMs: 10_000,
};

export interface HostOptions {
  privateKey: PrivateKey;
  role: Role;
  /** Multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/4001. */
  listen: string[];
  /** Multiaddrs (with /p2p/<id>) dialled at start and kept as bootstrap peers. */
  bootstrap?: string[];
  /** Keep private/loopback addresses in the DHT (LAN and tests); public networks drop them. */
  allowPrivateAddresses?: boolean;
  limits?: Partial<HostLimits>;
  /** Yamux tuning: largest muxer message and per-stream receive window (bytes). */
  yamux?: { maxMessageSize?: number; initialStreamWindowSize?: number; maxStreamWindowSize?: number };
  /** Noise cipher implementation: Node's native ChaCha20-Poly1305 by default (the bench swaps it). */
  noiseCrypto?: ICryptoInterface;
}

export type CofferServices = { identify: Identify; ping: Ping; dht: KadDHT };
export type CofferHost = Libp2p<CofferServices>;

/** A libp2p host: TCP + Noise + Yamux, identify, ping and a Coffer-scoped Kademlia DHT. Not started. */
export async function createHost(options: HostOptions): Promise<CofferHost> {
  const limits = { ...DEFAULT_HOST_LIMITS, ...options.limits };
  const bootstrapList = options.bootstrap ?? [];
  return createLibp2p({
    privateKey: options.privateKey,
    start: false,
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: options.noiseCrypto ?? nativeNoiseCrypto })],
    streamMuxers: [yamux({
      ...(options.yamux?.maxMessageSize ? { maxMessageSize: options.yamux.maxMessageSize } : {}),
      streamOptions: {
        ...(options.yamux?.initialStreamWindowSize ? { initialStreamWindowSize: options.yamux.initialStreamWindowSize } : {}),
        ...(options.yamux?.maxStreamWindowSize ? { maxStreamWindowSize: options.yamux.maxStreamWindowSize } : {}),
      },
    })],
    peerDiscovery: bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList, timeout: 100 })] : [],
    connectionManager: {
      maxConnections: limits.maxConnections,
      maxIncomingPendingConnections: limits.maxIncomingPendingConnections,
      inboundConnectionThreshold: limits.inboundConnectionThreshold,
      dialTimeout: limits.dialTimeoutMs,
    },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        // Users are often behind NAT and come and go: they query but do not hold records.
        clientMode: options.role === "user",
        peerInfoMapper: options.allowPrivateAddresses ? passthroughMapper : removePrivateAddressesMapper,
        allowQueryWithZeroPeers: true,
        initialQuerySelfInterval: 500,
      }),
    },
  }) as Promise<CofferHost>;
}
