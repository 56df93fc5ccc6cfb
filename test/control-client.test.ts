/**
 * The CLI's control client (node/cli/control.ts) when the node dies mid-answer: a `get` or `buy-deal` whose node
 * was killed used to end with Node's "unsettled top-level await" warning and no message. A real HTTP server here
 * answers with the first NDJSON line of a long operation and then drops the connection, as a killed node does.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONTROL_FILE, ControlClient } from "../node/cli/control.js";
import { CofferError } from "../node/errors.js";

describe("control client: a node that goes away mid-answer", function () {
  let server: Server | undefined;
  let dir: string | undefined;

  afterEach(async function () {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("rejects with not-running and says how to go on, instead of hanging up silently", async function () {
    server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      res.write(`${JSON.stringify({ progress: "PoD download of deal 0x12…" })}\n`);
      // The node is killed: the socket closes without the end of the chunked body.
      setTimeout(() => req.socket.destroy(), 50);
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    dir = await mkdtemp(join(tmpdir(), "coffer-control-"));
    await writeFile(join(dir, CONTROL_FILE), JSON.stringify({ port, token: "t", pid: 1, peerId: "p" }));
    const client = await ControlClient.connect(dir);
    const lines: unknown[] = [];
    const outcome = await Promise.race([
      client.call("POST", "/get", {}, (line) => lines.push(line)).then(
        () => "resolved",
        (error: unknown) => error,
      ),
      new Promise((resolve) => setTimeout(() => resolve("still waiting after 5 s"), 5_000)),
    ]);
    assert.ok(outcome instanceof CofferError, `rejected with a CofferError, got ${String(outcome)}`);
    assert.equal(outcome.code, "not-running");
    assert.match(outcome.message, /went away before it answered/);
    assert.match(outcome.message, /coffer start/);
    assert.equal(lines.length, 1, "the progress line before the drop was delivered");
  });
});
