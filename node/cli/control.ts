import { randomBytes } from "node:crypto";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { checkOutputPath } from "../download/output-path.js";
import { ChainMismatchError, findChainLinkError } from "../chain/chain-health.js";
import { CofferError } from "../errors.js";
import { parseRoot } from "../p2p/hex.js";
import type { CofferNode } from "../assembly/coffer-node.js";

/**
 * Local control API of a running node, for the CLI: HTTP/JSON on 127.0.0.1 (random port), address and a
 * bearer token in `<dataDir>/control.json` (mode 0600, so only the node's user can drive it).
 * Long operations (put/get) answer with NDJSON: `{"progress":...}` lines, then `{"result":...}` or
 * `{"error":{code,message}}`.
 */
export const CONTROL_FILE = "control.json";
const MAX_BODY = 64 * 1024;

export interface ControlInfo {
  port: number;
  token: string;
  pid: number;
  peerId: string;
}

/** A role's own long operation: POST <path>, JSON body in, NDJSON progress lines out, then its result. */
export type ControlRoute = (body: Record<string, unknown>, emit: (progress: unknown) => void, signal: AbortSignal) => Promise<unknown>;

export interface ControlExtensions {
  /** POST routes a role adds (a route here replaces a built-in one of the same path). */
  routes?: Record<string, ControlRoute>;
  /** Fields a role adds to GET /status (chain address, replicas...). */
  status?: () => Promise<Record<string, unknown>>;
}

export async function startControlServer(node: CofferNode, dataDir: string, logger?: Logger, extensions: ControlExtensions = {}): Promise<{ server: Server; close: () => Promise<void> }> {
  const token = randomBytes(24).toString("hex");
  const server = createServer((req, res) => {
    handle(node, token, req, res, extensions).catch((error) => {
      logger?.warn({ err: (error as Error).message }, "control request failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "internal", message: (error as Error).message } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const file = join(dataDir, CONTROL_FILE);
  await writeFile(file, JSON.stringify({ port, token, pid: process.pid, peerId: node.peerId.toString() } satisfies ControlInfo), { mode: 0o600 });
  return {
    server,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(file, { force: true });
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const part of req) {
    size += (part as Buffer).length;
    if (size > MAX_BODY) throw new CofferError("request body too large", { code: "bad-request" });
    parts.push(part as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(parts).toString("utf8"));
  } catch (cause) {
    throw new CofferError("request body is not JSON", { code: "bad-request", cause });
  }
}

function errorOf(error: unknown): { code: string; message: string } {
  // The chain down or reset under the node: its own message, whatever call (and viem error) it surfaced in.
  const link = findChainLinkError(error);
  if (link) return { code: link instanceof ChainMismatchError ? "chain-mismatch" : "chain-unreachable", message: link.shortMessage };
  // One family: every Coffer error carries its code (refused, chain, not-found...) and a shortMessage that says
  // what to change.
  if (error instanceof CofferError) return { code: error.code, message: error.shortMessage };
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === "ENOSPC") return { code: "disk-full", message: "disk full" };
  if (code === "ENOENT") return { code: "not-found", message: (error as Error).message };
  return { code: "internal", message: (error as Error)?.message ?? String(error) };
}

async function handle(node: CofferNode, token: string, req: IncomingMessage, res: ServerResponse, extensions: ControlExtensions): Promise<void> {
  if (req.headers.authorization !== `Bearer ${token}`) {
    res.writeHead(401).end(JSON.stringify({ error: { code: "unauthorized", message: "bad control token" } }));
    return;
  }
  const json = (status: number, value: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };
  const path = req.url ?? "/";
  if (req.method === "GET" && path === "/status") {
    return json(200, {
      peerId: node.peerId.toString(),
      role: node.role,
      addresses: node.addresses(),
      connections: node.host.getConnections().length,
      dhtMode: node.host.services.dht.getMode(),
      files: node.store.roots().map((r) => node.store.info(r)),
      ...(extensions.status ? await extensions.status() : {}),
    });
  }
  const route = req.method === "POST" ? extensions.routes?.[path] : undefined;
  if (route) {
    const body = await readBody(req);
    res.writeHead(200, { "content-type": "application/x-ndjson" });
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    try {
      const result = await route(body, (progress) => res.write(JSON.stringify({ progress }) + "\n"), abort.signal);
      res.write(JSON.stringify({ result }) + "\n");
    } catch (error) {
      res.write(JSON.stringify({ error: errorOf(error) }) + "\n");
    }
    res.end();
    return;
  }
  if (req.method === "GET" && path === "/peers") {
    return json(200, node.host.getConnections().map((c) => ({ peerId: c.remotePeer.toString(), address: c.remoteAddr.toString(), direction: c.direction })));
  }
  if (req.method === "GET" && path === "/neighbours") {
    return json(200, { neighbours: node.overlay.neighbours(), candidates: node.overlay.candidates(), past: node.overlay.past() });
  }
  if (req.method === "POST" && path === "/reset") {
    await node.overlay.reset();
    void node.overlay.round();
    return json(200, { reset: true, past: node.overlay.past().length });
  }
  if (req.method === "POST" && (path === "/put" || path === "/get")) {
    const body = await readBody(req);
    res.writeHead(200, { "content-type": "application/x-ndjson" });
    const emit = (value: unknown) => res.write(JSON.stringify(value) + "\n");
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    try {
      if (path === "/put") {
        if (typeof body.path !== "string") throw new CofferError("`path` is required", { code: "bad-request" });
        const copies = typeof body.copies === "number" ? body.copies : 1;
        const result = await node.put(body.path, {
          copies,
          signal: abort.signal,
          onProgress: (peer, p) => emit({ progress: { peer, done: p.sent, total: p.total, bytes: p.bytes } }),
        });
        if (result.storedOn.length === 0) throw new CofferError(`no lessor stored the file: ${JSON.stringify(result.failed)}`, { code: "upload-failed" });
        emit({ result: { root: result.info.root, size: result.info.size, chunks: result.info.chunkCount, storedOn: result.storedOn, failed: result.failed } });
      } else {
        const root = parseRoot(body.root);
        if (root === undefined) throw new CofferError("`root` must be a 0x-prefixed 32-byte hex string", { code: "bad-root" });
        if (typeof body.out !== "string") throw new CofferError("`out` is required", { code: "bad-request" });
        await checkOutputPath(body.out, { force: body.force === true });
        const result = await node.get(root, body.out, {
          signal: abort.signal,
          onProgress: (p) => emit({ progress: { done: p.bytes, total: p.size, chunks: p.completeChunks, chunkCount: p.chunkCount, sources: p.sources } }),
        });
        emit({ result: { root: result.root, size: result.size, out: body.out, sources: Object.keys(result.stats.bytesFrom).length, badChunks: result.stats.badChunks } });
      }
    } catch (error) {
      emit({ error: errorOf(error) });
    }
    res.end();
    return;
  }
  json(404, { error: { code: "not-found", message: `no route ${req.method} ${path}` } });
}

/** Client side: calls the running node's control API. */
export class ControlClient {
  private constructor(private readonly info: ControlInfo) {}

  static async connect(dataDir: string): Promise<ControlClient> {
    let info: ControlInfo;
    try {
      info = JSON.parse(await readFile(join(dataDir, CONTROL_FILE), "utf8"));
    } catch {
      throw new CofferError(`no node is running with data dir ${dataDir}`, { code: "not-running", details: "start one with: coffer start" });
    }
    return new ControlClient(info);
  }

  /** One JSON request; or, with `onLine`, NDJSON lines until the stream ends. */
  call(method: string, path: string, body?: unknown, onLine?: (line: Record<string, unknown>) => void): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: this.info.port, method, path, headers: { authorization: `Bearer ${this.info.token}`, "content-type": "application/json" } }, (res) => {
        let buffer = "";
        let last: unknown;
        let ended = false;
        // The node stopped or was killed mid-answer (a long get or buy): say so instead of hanging up silently.
        const wentAway = (cause?: unknown) => {
          if (ended) return;
          ended = true;
          reject(new CofferError(`the node on port ${this.info.port} went away before it answered (stopped or killed)`, {
            code: "not-running",
            cause,
            details: "restart it with `coffer start`: a get or buy-deal can be run again (an unfinished download's files are removed at start, a buy continues its deal instead of paying again)",
          }));
        };
        res.on("error", wentAway);
        res.on("close", () => wentAway());
        res.setEncoding("utf8");
        res.on("data", (data: string) => {
          buffer += data;
          if (!onLine) return;
          let nl;
          while ((nl = buffer.indexOf("\n")) >= 0) {
            const line = JSON.parse(buffer.slice(0, nl));
            buffer = buffer.slice(nl + 1);
            onLine(line);
            last = line;
          }
        });
        res.on("end", () => {
          if (ended) return;
          ended = true;
          const value = onLine ? last : buffer.length > 0 ? JSON.parse(buffer) : undefined;
          const error = (value as { error?: { code: string; message: string } })?.error;
          if (error) reject(new CofferError(error.message, { code: error.code }));
          else resolve(value);
        });
      });
      req.on("error", (cause) => reject(new CofferError(`cannot reach the node on port ${this.info.port}`, { code: "not-running", cause, details: "is `coffer start` still running?" })));
      if (body !== undefined) req.write(JSON.stringify(body));
      req.end();
    });
  }
}
