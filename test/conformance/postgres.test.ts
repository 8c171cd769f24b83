/**
 * The conformance suite against a real PostgreSQL (see test/support/postgres-server.ts for where
 * it comes from). The suite runs unchanged; this file only says how to connect, end a session
 * from the server side (delete its row, as an operator or another client's sweep of an expired
 * session would) and delete a key behind Baton's back. Keys live in a schema of their own per run,
 * so the schema's creation on first use is exercised too.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { PostgresBackend } from '../../src/backends/postgres/index.js';
import { connect } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type PostgresServer, postgresExpected, startPostgres } from '../support/postgres-server.js';
import { runConformance } from './suite.js';

const schema = `baton_conformance_${process.pid}`;
let server: PostgresServer | undefined;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  await server?.stop();
});

describe.skipIf(!postgresExpected())('postgres', () => {
  runConformance({
    name: 'postgres',
    connect: (options) => connect(server!.url({ params: { schema, ...(options?.ttl !== undefined ? { ttl: options.ttl } : {}) } })),
    async expireSession(coord) {
      const backend = backendOf(coord);
      if (!(backend instanceof PostgresBackend) || backend.sessionId === undefined) throw new Error('no open PostgreSQL session to expire');
      await server!.sql(`DELETE FROM ${schema}.sessions WHERE id = $1`, [backend.sessionId]);
    },
    async deleteKey(key) {
      await server!.sql(`DELETE FROM ${schema}.keys WHERE key = $1`, [key]);
    },
  });
});
