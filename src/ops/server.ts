/**
 * The operations endpoint on `METRICS_PORT`: `GET /healthz` (200 while the bot is connected to Discord, 503
 * otherwise) and `GET /metrics` (Prometheus text format).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ParleyMetrics } from './metrics.ts';

/** Options for {@link startOpsServer}. */
export interface OpsServerOptions {
  port: number;
  /** Interface to listen on; default all (a container's port mapping needs it). */
  host?: string;
  metrics: ParleyMetrics;
  /** Health now: `ok` false answers 503. */
  health: () => { ok: boolean; [detail: string]: unknown };
}

/** A running ops server. */
export interface OpsServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the server.
 *
 * @throws the listen error (e.g. `EADDRINUSE`) if the port cannot be bound.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/healthz') {
      const health = options.health();
      response.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(health));
      return;
    }
    if (path === '/metrics') {
      options.metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
