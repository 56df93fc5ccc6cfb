import { createServer as createTcpServer } from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed). */
export async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
