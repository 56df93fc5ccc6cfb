import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { NODE_V8_FLAGS } from "../node/cli/v8-flags.js";
import { Harness } from "./helpers/p2p-harness.js";

const CLI = ["node/cli/coffer.ts"];

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...NODE_V8_FLAGS, "--import", "tsx", ...CLI, ...args], { env: { ...process.env, COFFER_LOG: "silent" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Starts `coffer start` and resolves once it printed its JSON banner. */
function daemon(args: string[]): Promise<{ child: ChildProcess; info: { peerId: string; addresses: string[] } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_V8_FLAGS, "--import", "tsx", ...CLI, "--json", ...args], { env: { ...process.env, COFFER_LOG: "silent" } });
    let stdout = "";
    child.stdout!.on("data", (d) => {
      stdout += d;
      try { resolve({ child, info: JSON.parse(stdout) }); } catch { /* not complete yet */ }
    });
    child.on("close", (code) => reject(new Error(`daemon exited ${code}`)));
  });
}

describe("coffer CLI", function () {
  this.timeout(180_000);
  const harness = new Harness();
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) if (child.exitCode === null) { child.kill("SIGTERM"); await new Promise((r) => child.once("close", r)); }
    await harness.cleanup();
  });

  it("runs with the node's V8 flags: npm run coffer, the #! line and npm run bench:p2p pass the same ones", async () => {
    const { scripts } = JSON.parse(await readFile("package.json", "utf8")) as { scripts: Record<string, string> };
    const shebang = (await readFile("node/cli/coffer.ts", "utf8")).split("\n")[0];
    for (const flag of NODE_V8_FLAGS) {
      assert.ok(scripts.coffer.includes(` ${flag} `), `npm run coffer passes ${flag}: ${scripts.coffer}`);
      assert.ok(scripts["bench:p2p"].includes(` ${flag} `), `npm run bench:p2p passes ${flag}: ${scripts["bench:p2p"]}`);
      assert.ok(shebang.includes(` ${flag}`), `the #! line passes ${flag}: ${shebang}`);
    }
  });

  it("the V8 flags reach the node process itself when given to tsx as npm run coffer does (a 16 MiB young generation)", async () => {
    const probe = join(await harness.dir(), "probe.ts");
    await writeFile(probe, 'import v8 from "node:v8";\nconsole.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.space_size);\n');
    const tsxCli = join(createRequire(import.meta.url).resolve("tsx/package.json"), "..", "dist", "cli.mjs");
    const child = spawn(process.execPath, [tsxCli, ...NODE_V8_FLAGS, probe], { env: process.env });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    await new Promise((resolve) => child.on("close", resolve));
    assert.equal(Number(stdout.trim()), 16 * 1024 * 1024);
  });

  it("every command's --help prints its options with their defaults (bigint defaults included)", async () => {
    for (const command of ["start", "register", "fund"]) {
      const { code, stdout, stderr } = await run([command, "--help"]);
      assert.equal(code, 0, `${command} --help: ${stderr}`);
      assert.match(stdout, /--rpc <url>/);
    }
    const start = await run(["start", "--help"]);
    assert.match(start.stdout, /--no-onchain-challenges/);
    assert.match(start.stdout, /\(default: 100GiB\)/);
    assert.match((await run(["fund", "--help"])).stdout, /\(default: 10000\)/);
  });

  it("init, start a lessor and a user, put, get, status; errors map to exit codes", async () => {
    const lessorDir = await harness.dir();
    const userDir = await harness.dir();
    const init = await run(["-d", lessorDir, "--json", "init", "--role", "lessor", "--listen", "/ip4/127.0.0.1/tcp/0"]);
    assert.equal(init.code, 0, init.stderr);
    const peerId = JSON.parse(init.stdout).peerId as string;
    const lessor = await daemon(["-d", lessorDir, "start", "--lan"]);
    children.push(lessor.child);
    assert.equal(lessor.info.peerId, peerId, "start keeps the identity made by init");
    const user = await daemon(["-d", userDir, "start", "--role", "user", "--listen", "/ip4/127.0.0.1/tcp/0", "--lan", "--bootstrap", lessor.info.addresses[0]]);
    children.push(user.child);

    const file = join(await harness.dir(), "f.bin");
    const bytes = randomBytes(700_000);
    await writeFile(file, bytes);
    const put = await run(["-d", userDir, "--json", "put", file]);
    assert.equal(put.code, 0, put.stderr + put.stdout);
    const { root, storedOn } = JSON.parse(put.stdout);
    assert.deepEqual(storedOn, [peerId]);

    const status = JSON.parse((await run(["-d", lessorDir, "--json", "status"])).stdout);
    assert.equal(status.files[0].root, root);
    assert.equal(status.files[0].completeChunks, 3);

    const out = join(await harness.dir(), "out.bin");
    const thirdDir = await harness.dir();
    const third = await daemon(["-d", thirdDir, "start", "--role", "user", "--listen", "/ip4/127.0.0.1/tcp/0", "--lan", "--bootstrap", lessor.info.addresses[0]]);
    children.push(third.child);
    const get = await run(["-d", thirdDir, "--json", "get", root, out]);
    assert.equal(get.code, 0, get.stderr + get.stdout);
    assert.deepEqual(await readFile(out), bytes);

    // The output path is checked first: an existing file only with --force, a missing folder is not found.
    const exists = await run(["-d", thirdDir, "--json", "get", root, out]);
    assert.equal(exists.code, 1, exists.stdout);
    assert.equal(JSON.parse(exists.stdout).error.code, "output-exists");
    assert.equal((await run(["-d", thirdDir, "--json", "get", "--force", root, out])).code, 0, "--force overwrites");
    assert.deepEqual(await readFile(out), bytes);
    assert.equal((await run(["-d", thirdDir, "--json", "get", root, join(thirdDir, "no-such-folder", "out.bin")])).code, 4);
    const unknown = await run(["-d", thirdDir, "--json", "get", "0x" + "ab".repeat(32), join(thirdDir, "unknown.bin")]);
    assert.equal(unknown.code, 4, unknown.stdout);
    assert.equal(JSON.parse(unknown.stdout).error.code, "no-providers");
    assert.equal((await run(["-d", thirdDir, "get", "0x12", out])).code, 2, "bad root is a usage error");
    assert.equal((await run(["-d", userDir, "start", "--bootstrap", "/ip4/bad"])).code, 2, "bad multiaddr is a usage error");
    const notRunning = await run(["-d", await harness.dir(), "status"]);
    assert.equal(notRunning.code, 3);
    assert.match(notRunning.stderr, /coffer start/);
    const missing = await run(["-d", userDir, "put", "/nonexistent/file"]);
    assert.equal(missing.code, 4);
  });
});
