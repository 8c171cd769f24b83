// Shared by every benchmark script: command-line options and free loopback ports.
import { createServer } from 'node:net';

/** The number after `--name`, or `fallback`. */
export const arg = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};

/** Whether `--name` was given. */
export const flag = (name) => process.argv.includes(`--${name}`);

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
