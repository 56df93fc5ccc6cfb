import type { Account, Chain, PublicClient, Transport, WalletClient } from "viem";

/** The clients a chain action needs: one to read and wait for receipts, one (with an account) to send. */
export interface CofferClients {
  publicClient: PublicClient<Transport, Chain | undefined>;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
}
