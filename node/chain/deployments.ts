import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getAddress, isAddress, isHex, type Address, type Hex } from "viem";
import { DeploymentInvalidError, DeploymentNotFoundError } from "./errors.js";

/** One deployed contract: where it is and which Hardhat artifact (contract name) has its ABI. */
export interface ContractDeployment {
  address: Address;
  artifact: string;
}

/** Contracts every Coffer deployment has; later parts (the market...) add their own entries. */
export interface CofferContracts {
  CofferToken: ContractDeployment;
  LessorRegistry: ContractDeployment;
  [name: string]: ContractDeployment;
}

/** Contents of `deployments/<network>.json`. */
export interface CofferDeployment {
  network: string;
  chainId: number;
  /** Block of the first deployment transaction: where to start scanning logs. */
  deployedAtBlock: number;
  /**
   * Identity of the chain the contracts were deployed on (written by the deploy; absent in older files): the
   * genesis block's hash and the deploy block's hash. A node refuses a chain where they differ (a chain
   * restarted empty, another chain with the same id), see node/chain/chain-health.ts.
   */
  genesisHash?: Hex;
  deployedAtBlockHash?: Hex;
  contracts: CofferContracts;
}

export interface DeploymentsLocation {
  /** Folder of the `<network>.json` files. Default: $COFFER_DEPLOYMENTS_DIR, else `deployments/` at the repo root. */
  dir?: string;
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const NETWORK_NAME = /^[A-Za-z0-9_-]+$/;

/** The folder holding deployment files. */
export function deploymentsDir(location: DeploymentsLocation = {}): string {
  return path.resolve(location.dir ?? process.env.COFFER_DEPLOYMENTS_DIR ?? path.join(REPO_ROOT, "deployments"));
}

/** Path of the deployment file for `network`. */
export function deploymentPath(network: string, location: DeploymentsLocation = {}): string {
  if (!NETWORK_NAME.test(network)) {
    throw new DeploymentInvalidError(network, `"${network}" is not a valid network name (letters, digits, _ and -)`);
  }
  return path.join(deploymentsDir(location), `${network}.json`);
}

/**
 * Reads and validates `deployments/<network>.json`.
 * @throws DeploymentNotFoundError when the file does not exist; DeploymentInvalidError when it is malformed.
 */
export async function readDeployment(network: string, location: DeploymentsLocation = {}): Promise<CofferDeployment> {
  const file = deploymentPath(network, location);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new DeploymentNotFoundError(network, file, { cause: error });
    throw new DeploymentInvalidError(file, "it cannot be read", { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DeploymentInvalidError(file, "it is not JSON", { cause: error });
  }
  return parseDeployment(json, file);
}

/** Writes `deployments/<network>.json` atomically (temp file + rename); returns its path. */
export async function writeDeployment(deployment: CofferDeployment, location: DeploymentsLocation = {}): Promise<string> {
  const file = deploymentPath(deployment.network, location);
  const checked = parseDeployment(deployment, file);
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(checked, null, 2)}\n`);
  await rename(temp, file);
  return file;
}

/** Validates an untrusted value as a {@link CofferDeployment}; `source` names it in errors. */
export function parseDeployment(value: unknown, source: string): CofferDeployment {
  const fail = (problem: string): never => {
    throw new DeploymentInvalidError(source, problem);
  };
  if (!isRecord(value)) return fail("expected a JSON object");
  const { network, chainId, deployedAtBlock, genesisHash, deployedAtBlockHash, contracts } = value;
  if (typeof network !== "string" || !NETWORK_NAME.test(network)) fail(`"network" must be a network name`);
  if (!isNonNegativeInteger(chainId) || chainId === 0) fail(`"chainId" must be a positive integer`);
  if (!isNonNegativeInteger(deployedAtBlock)) fail(`"deployedAtBlock" must be a non-negative integer`);
  for (const [field, hash] of [["genesisHash", genesisHash], ["deployedAtBlockHash", deployedAtBlockHash]] as const) {
    if (hash !== undefined && !(typeof hash === "string" && isHex(hash) && hash.length === 66)) fail(`"${field}" must be a 32-byte 0x hex block hash`);
  }
  if (!isRecord(contracts)) return fail(`"contracts" must be an object`);

  const parsed: Record<string, ContractDeployment> = {};
  for (const [name, entry] of Object.entries(contracts)) {
    if (!isRecord(entry)) return fail(`contracts.${name} must be an object`);
    if (typeof entry.address !== "string" || !isAddress(entry.address, { strict: false })) {
      fail(`contracts.${name}.address must be an address`);
    }
    if (typeof entry.artifact !== "string" || entry.artifact.length === 0) {
      fail(`contracts.${name}.artifact must be a contract name`);
    }
    parsed[name] = { address: getAddress(entry.address as string), artifact: entry.artifact as string };
  }
  for (const required of ["CofferToken", "LessorRegistry"] as const) {
    if (parsed[required] === undefined) fail(`contracts.${required} is missing`);
  }
  return {
    network: network as string,
    chainId: chainId as number,
    deployedAtBlock: deployedAtBlock as number,
    ...(genesisHash !== undefined && { genesisHash: genesisHash as Hex }),
    ...(deployedAtBlockHash !== undefined && { deployedAtBlockHash: deployedAtBlockHash as Hex }),
    contracts: parsed as CofferContracts,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
