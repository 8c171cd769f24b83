/**
 * Bad input and bad environments on PostgreSQL give clear errors at once: malformed URLs and
 * object forms, an unreachable server, a wrong password, a missing database, a server without
 * TLS when TLS is required, and a user without the rights to create or use Baton's schema (the
 * message names the grants that fix it, and doing what it says works).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError, ConfigError, connect } from '../../src/index.js';
import { type PostgresServer, postgresExpected, startPostgres } from '../support/postgres-server.js';
import { freePort } from '../support/servers.js';

let server: PostgresServer | undefined;
beforeAll(async () => {
  server = await startPostgres({ needControl: true });
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const failure = (promise: Promise<unknown>) => promise.then(
  () => {
    throw new Error('expected a failure');
  },
  (error: unknown) => error as Error,
);

describe('PostgreSQL configuration errors', () => {
  it.each([
    ['postgres://localhost:5432', /expected one database name as the path/],
    ['postgres://a:1,b:2/db', /several hosts are not supported/],
    ['postgres://localhost/db?sslmode=prefer', /accepted modes are disable, require, verify-ca, verify-full/],
    ['postgres://localhost/db?schema=Bad-Name', /schema must be 1-50 characters of lowercase letters/],
    ['postgres://localhost/db?ttl=0', /ttl must be a number from 1 to 86400/],
    ['postgres://localhost/db?pool=3', /unknown parameter "pool".*accepted parameters are ttl, schema, sslmode/],
    ['postgresql://localhost/db?sslmode=require&sslcert=/nonexistent.pem&sslkey=/nonexistent.key', /cannot read "\/nonexistent.pem"/],
    ['postgres:///db', /no host/],
  ])('%s is refused with a ConfigError', async (url, message) => {
    const error = await failure(connect(url));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(message);
  });

  it('the object form names the wrong field', async () => {
    expect(await failure(connect({ backend: 'postgres', database: 'db' } as never))).toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/invalid host/) });
    expect(await failure(connect({ backend: 'postgres', host: 'h', database: 'db', port: 70000 }))).toMatchObject({ message: expect.stringMatching(/port must be an integer from 1 to 65535/) });
    expect(await failure(connect({ backend: 'postgres', host: 'h', database: 'db', ssl: { mode: 'allow' as never } }))).toMatchObject({ message: expect.stringMatching(/accepted modes/) });
    expect(await failure(connect({ backend: 'postgres', host: 'h', database: 'db', pool: 3 } as never))).toMatchObject({ message: expect.stringMatching(/unknown field "pool"/) });
  });

  it('a password in a URL never appears in an error message', async () => {
    const error = await failure(connect('postgres://user:s3cret@localhost:5432'));
    expect(error.message).not.toContain('s3cret');
  });
});

describe.skipIf(!postgresExpected())('PostgreSQL environment errors', () => {
  it('an unreachable server: a BackendError saying the connection was refused, at once', async () => {
    const port = await freePort();
    const started = performance.now();
    const error = await failure(connect(`postgres://baton@127.0.0.1:${port}/postgres`));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toMatch(new RegExp(`connection refused; is PostgreSQL running and listening on 127.0.0.1:${port}`));
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('a wrong password: a BackendError naming the user', async () => {
    const error = await failure(connect(server!.url({ user: 'baton_admin', password: 'wrong' })));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toMatch(/password authentication failed for user "baton_admin"/);
  });

  it('a missing database: a BackendError saying how to create it', async () => {
    const error = await failure(connect(server!.url({ database: 'no_such_db' })));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toMatch(/database "no_such_db" does not exist; create it \(createdb no_such_db\)/);
  });

  it('TLS required by a server without TLS: a BackendError', async () => {
    const error = await failure(connect(server!.url({ params: { sslmode: 'require' } })));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toMatch(/SSL/);
  });

  it('a user who may not create the schema is told the grants; after them it works', async () => {
    const user = `baton_limited_${process.pid}`;
    const schema = `baton_denied_${process.pid}`;
    await server!.sql(`CREATE ROLE ${user} LOGIN PASSWORD 'limited'`);
    const url = server!.url({ user, password: 'limited', params: { schema } });
    const error = await failure(connect(url));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toContain(`lacks rights on schema "${schema}"`);
    expect(error.message).toContain(`GRANT CREATE ON DATABASE "postgres" TO "${user}";`);
    expect(error.message).toContain(`CREATE SCHEMA "${schema}" AUTHORIZATION "${user}";`);

    // The administrator does what the message says; Baton creates its tables inside on first use.
    await server!.sql(`CREATE SCHEMA "${schema}" AUTHORIZATION "${user}"`);
    const coord = await connect(url);
    const lease = await coord.mutex('errors/limited').acquire();
    expect(typeof lease.token).toBe('bigint');
    await lease.release();
    await coord.close();
  });

  it('a user without rights on a schema another user created is told the grants; after them it works', async () => {
    const user = `baton_reader_${process.pid}`;
    const schema = `baton_shared_${process.pid}`;
    await server!.sql(`CREATE ROLE ${user} LOGIN PASSWORD 'reader'`);
    // The administrator's coordinator creates the schema.
    await (await connect(server!.url({ params: { schema } }))).close();
    const url = server!.url({ user, password: 'reader', params: { schema } });
    const error = await failure(connect(url));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toContain(`GRANT USAGE ON SCHEMA "${schema}" TO "${user}";`);
    const grants = /an administrator must run: (.*)$/.exec(error.message)![1]!;
    await server!.sql(grants);
    const coord = await connect(url);
    const lease = await coord.mutex('errors/shared').acquire();
    await lease.release();
    await coord.close();
  });
});
