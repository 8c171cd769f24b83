// Fenced transactions on PostgreSQL: the stock lives in a table of the same database as Baton's
// locks, and every decrement runs in a transaction that commits only while the buyer's hold is
// valid (its key row locked FOR SHARE, its session live by the server's clock). Twelve buyers on
// three servers (coordinators) buy from a stock of ten: ten are sold, two are told it is sold
// out. Then a holder whose hold has ended tries to write anyway, as a process that paused past
// its TTL would: the database refuses the transaction.
//
//   BATON_BACKEND=postgres://user:password@host:5432/db node examples/postgres-inventory.mjs
import { connect, fencedTransaction } from 'baton-locks';

const url = process.env.BATON_BACKEND;
if (!url?.startsWith('postgres')) {
  console.error('set BATON_BACKEND to a postgres:// URL: fenced transactions are PostgreSQL only');
  process.exit(2);
}

const servers = await Promise.all([1, 2, 3].map(() => connect(url)));
const [admin] = servers;
const table = `inventory_demo_${process.pid}`;
const sku = 'sku-42';

// Set-up, in a fenced transaction too (any hold will do; this one is on the set-up itself).
await admin.mutex('inventory/setup').withLock((lease) =>
  fencedTransaction(admin, lease, async (sql) => {
    await sql.query(`CREATE TABLE ${table} (sku text PRIMARY KEY, count integer NOT NULL CHECK (count >= 0), last_token bigint)`);
    await sql.query(`INSERT INTO ${table} VALUES ($1, 10, NULL)`, [sku]);
  }),
);

const sold = [];
const refused = [];
async function buy(server, buyer) {
  await server.mutex(`inventory/${sku}`).withLock(
    (lease) =>
      fencedTransaction(server, lease, async (sql) => {
        const { rows } = await sql.query(`SELECT count FROM ${table} WHERE sku = $1`, [sku]);
        await new Promise((resolve) => setTimeout(resolve, 2)); // a price lookup: where updates get lost
        if (rows[0].count === 0) {
          refused.push(buyer);
          return;
        }
        // The token is stored too, so the row says which holder wrote last.
        await sql.query(`UPDATE ${table} SET count = $2, last_token = $3 WHERE sku = $1`, [sku, rows[0].count - 1, String(lease.token)]);
        sold.push(buyer);
      }),
    { timeoutMs: 30_000 },
  );
}

const buyers = Array.from({ length: 12 }, (_, i) => `buyer-${i + 1}`);
await Promise.all(buyers.map((buyer, i) => buy(servers[i % servers.length], buyer)));

// A holder whose hold is over (released here; expired or deleted would be the same) is refused.
const stale = await servers[1].mutex(`inventory/${sku}`).acquire();
await stale.release();
let staleOutcome;
try {
  await fencedTransaction(servers[1], stale, (sql) => sql.query(`UPDATE ${table} SET count = 100 WHERE sku = $1`, [sku]));
  staleOutcome = 'committed (wrong!)';
} catch (error) {
  staleOutcome = `refused (${error.name})`;
}

const [row] = await admin.mutex('inventory/report').withLock((lease) =>
  fencedTransaction(admin, lease, async (sql) => {
    const { rows } = await sql.query(`SELECT count FROM ${table} WHERE sku = $1`, [sku]);
    await sql.query(`DROP TABLE ${table}`);
    return rows;
  }),
);
await Promise.all(servers.map((server) => server.close()));

console.log(`sold: ${sold.length}, sold out for: ${refused.length}, stock left: ${row.count}`);
console.log(`write of a holder whose hold had ended: ${staleOutcome}`);
const consistent = sold.length === 10 && refused.length === 2 && row.count === 0 && staleOutcome.startsWith('refused (LeaseLostError)');
console.log(`no lost update, no oversell, no stale write: ${consistent ? 'yes' : 'NO'}`);
if (!consistent) process.exitCode = 1;
