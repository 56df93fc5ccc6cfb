import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { CofferNode, type CofferNodeOptions } from "../../node/assembly/coffer-node.js";

/** Starts real nodes on 127.0.0.1 with temp data dirs; `cleanup()` stops them and deletes the dirs. */
export class Harness {
  readonly nodes: CofferNode[] = [];
  private readonly dirs: string[] = [];

  async dir(prefix = "coffer-test-"): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  async node(options: Partial<CofferNodeOptions> & { role: CofferNodeOptions["role"] }): Promise<CofferNode> {
    const node = await CofferNode.create({
      dataDir: options.dataDir ?? (await this.dir()),
      listen: ["/ip4/127.0.0.1/tcp/0"],
      allowPrivateAddresses: true,
      logger: pino({ level: process.env.COFFER_LOG ?? "silent" }),
      ...options,
      overlay: { enabled: false, ...options.overlay },
    });
    await node.start();
    this.nodes.push(node);
    return node;
  }

  /** A random file of `size` bytes on disk. */
  async file(size: number): Promise<{ path: string; bytes: Buffer }> {
    const bytes = randomBytes(size);
    const path = join(await this.dir("coffer-file-"), "data.bin");
    await writeFile(path, bytes);
    return { path, bytes };
  }

  async stopNode(node: CofferNode): Promise<void> {
    const i = this.nodes.indexOf(node);
    if (i >= 0) this.nodes.splice(i, 1);
    await node.stop();
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.nodes.splice(0).map((n) => n.stop().catch(() => undefined)));
    await Promise.all(this.dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  }
}

/** Connects every node to every other one (full mesh). */
export async function mesh(nodes: CofferNode[]): Promise<void> {
  for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) await nodes[i].connect(nodes[j].addresses()[0]);
}

export function hexToBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex.slice(2), "hex"));
}
