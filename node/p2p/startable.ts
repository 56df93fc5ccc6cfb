/**
 * A service with a lifetime, as js-libp2p's Startable: every /coffer/* protocol service, the choker and the
 * overlay. A node starts its services as a list, in order, and stops them in reverse order.
 */
export interface Startable {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** Starts `services` one after the other, in order; the first failure is thrown (those after it are not started). */
export async function startAll(services: readonly Startable[]): Promise<void> {
  for (const service of services) await service.start();
}

/** Stops `services` in reverse order, every one of them even when some fail; `onError` hears of each failure. */
export async function stopAll(services: readonly Startable[], onError: (error: unknown) => void = () => undefined): Promise<void> {
  for (const service of [...services].reverse()) {
    try {
      await service.stop();
    } catch (error) {
      onError(error);
    }
  }
}
