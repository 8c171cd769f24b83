/**
 * examples/postgres-inventory.mjs runs as written against a PostgreSQL server started for this
 * file, and its output is checked: ten sold, two refused, the stale holder's write refused.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDist } from '../interop/peers.js';
import { type PostgresServer, postgresExpected, startPostgres } from '../support/postgres-server.js';

let server: PostgresServer | undefined;
beforeAll(async () => {
  server = await startPostgres();
  ensureDist();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe.skipIf(!postgresExpected())('examples/postgres-inventory.mjs', () => {
  it('sells ten, refuses two, and the stale holder\'s write is refused by the database', async () => {
    const file = fileURLToPath(new URL('../../examples/postgres-inventory.mjs', import.meta.url));
    const env = { ...process.env, BATON_BACKEND: server!.url({ params: { schema: `baton_example_${process.pid}` } }) };
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [file], { env, timeout: 60_000 }, (error, out, err) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: out, stderr: err }),
      );
    });
    expect(stderr).toBe('');
    expect(stdout).toMatch(/sold: 10, sold out for: 2, stock left: 0/);
    expect(stdout).toMatch(/write of a holder whose hold had ended: refused \(LeaseLostError\)/);
    expect(stdout).toMatch(/no lost update, no oversell, no stale write: yes/);
    expect(code).toBe(0);
  });
});
