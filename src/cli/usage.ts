/**
 * Help texts: `baton --help` and `baton COMMAND --help`, with examples.
 * @module
 */
import type { CommandName } from './args.js';
import { DEFAULT_GRACE_SECONDS } from './args.js';
import { ExitCode } from './exit-codes.js';

const BACKEND_HELP = `  --backend URL    etcd://HOST:PORT[,HOST:PORT...][?ttl=S&namespace=P] or
                   zookeeper://HOST:PORT[,HOST:PORT...][/chroot][?sessionTimeout=MS];
                   default: $BATON_BACKEND. memory:// is refused: it is local to one process.`;

const HOLDING_HELP = `${BACKEND_HELP}
  --ttl S          session TTL in whole seconds: how long the backend keeps the hold after baton
                   stops answering (etcd lease TTL; ZooKeeper session timeout). Default 10.
  --timeout S      give up after S seconds in line without the hold (exit ${ExitCode.TIMEOUT}); 0 = only if
                   it can be had without waiting. Connecting gives up after S seconds, but never
                   sooner than 5 or later than 30 (exit ${ExitCode.BACKEND}); without --timeout, after 30.
  --grace S        when the hold is lost: seconds between SIGTERM and SIGKILL to CMD (default ${DEFAULT_GRACE_SECONDS}).
  -v, --verbose    report on stderr when queued (with the number of waiters ahead), held, released.
  -h, --help       show this help.`;

const CHILD_HELP = `CMD runs with BATON_NAME, BATON_KEY and BATON_TOKEN (the fencing token: pass it to whatever the
hold protects) in its environment. baton exits with CMD's exit code (128+N if killed by signal N).
SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to baton are passed on to CMD; a second
interrupt (Ctrl-C again) sends CMD SIGTERM, then SIGKILL after --grace seconds or a third one. The hold
is released when CMD exits. If the hold is lost while CMD runs, CMD gets SIGTERM, then SIGKILL after
--grace seconds, and baton exits ${ExitCode.LOST} saying what was lost.`;

const EXIT_HELP = `Exit codes: CMD's own code; ${ExitCode.USAGE} bad arguments; ${ExitCode.BACKEND} backend unreachable or failed; ${ExitCode.TIMEOUT} --timeout
passed; ${ExitCode.LOST} hold lost while CMD ran; ${ExitCode.NOT_EXECUTABLE}/${ExitCode.NOT_FOUND} CMD not executable/not found; 128+N interrupted by signal N.`;

export const MAIN_HELP = `baton: run commands under distributed locks, semaphores and leader election (etcd, ZooKeeper)

Usage:
  baton lock NAME [OPTIONS] -- CMD [ARGS...]                 run CMD holding the fair (FIFO) lock NAME
  baton semaphore NAME --permits N [OPTIONS] -- CMD [ARGS...]  run CMD holding one of N permits
  baton elect NAME [--value V] [OPTIONS] -- CMD [ARGS...]    run CMD while leader of election NAME
  baton leader NAME [--json]                                 print the current leader
  baton observe NAME [--json]                                print the leader and every change
  baton status NAME [--permits N] [--json]                   print holders and waiters in queue order
  baton dashboard [--port P] [PREFIX]                        serve a live web page of every name under PREFIX

The backend comes from --backend URL, else the BATON_BACKEND environment variable.
Run 'baton COMMAND --help' for a command's options and examples.

Examples:
  export BATON_BACKEND=etcd://127.0.0.1:2379
  baton lock nightly-backup -- ./backup.sh --full
  baton lock --timeout 0 reports/daily -- make report      # skip if someone else runs it
  baton semaphore gpu --permits 4 -- python train.py
  baton elect scheduler --value "$(hostname)" -- ./scheduler
  baton status nightly-backup
  baton dashboard --port 8080 jobs

${EXIT_HELP}
`;

const COMMAND_HELP: Record<CommandName, string> = {
  lock: `Usage: baton lock NAME [OPTIONS] [--] CMD [ARGS...]

Waits in line for the fair (FIFO) distributed lock NAME, runs CMD while holding it, and releases it
when CMD exits. On etcd the lock is the one 'etcdctl lock NAME' and Go's concurrency.Mutex take; on
ZooKeeper, Curator's InterProcessMutex at /NAME.

Options:
${HOLDING_HELP}

${CHILD_HELP}

Examples:
  baton lock --backend etcd://127.0.0.1:2379 nightly-backup -- ./backup.sh --full
  BATON_BACKEND=zookeeper://zk1:2181,zk2:2181/batch baton lock --timeout 60 import -- ./import.sh
  baton lock -v deploy/prod -- sh -c 'echo "token $BATON_TOKEN"; ./deploy.sh'

${EXIT_HELP}
`,
  semaphore: `Usage: baton semaphore NAME --permits N [OPTIONS] [--] CMD [ARGS...]

Waits in line for one of N permits of the fair distributed semaphore NAME, runs CMD while holding it,
and gives the permit back when CMD exits. Every user of NAME must pass the same N. The layout is
Curator's InterProcessSemaphoreV2 (NAME/locks, NAME/leases).

Options:
  --permits N      how many may hold at once (1-1000000). Required.
${HOLDING_HELP}

${CHILD_HELP}

Examples:
  baton semaphore gpu --permits 4 -- python train.py --epochs 10
  baton semaphore api/partner --permits 2 --timeout 30 -- ./sync.sh

${EXIT_HELP}
`,
  elect: `Usage: baton elect NAME [--value V] [OPTIONS] [--] CMD [ARGS...]

Campaigns in the election NAME and runs CMD once leader, for as long as it stays leader: when CMD
exits baton resigns; when leadership is lost CMD is stopped. Start one on every host: one runs CMD,
the others wait in line and the next takes over when the leader's baton exits or dies. On etcd this
is the election 'etcdctl elect NAME' and Go's concurrency.Election use.

Options:
  --value V        the value observers see for this leader (default HOSTNAME:PID). Also in
                   BATON_VALUE for CMD.
${HOLDING_HELP}

${CHILD_HELP}

Examples:
  baton elect scheduler --value "$(hostname)" -- ./scheduler --serve
  baton elect --ttl 5 migrations -- ./migrate.sh

${EXIT_HELP}
`,
  leader: `Usage: baton leader NAME [--backend URL] [--json]

Prints the current leader of the election NAME: its value, fencing token and key, or "no leader".
With --json: {"value": ..., "token": "...", "key": ...} or null. Exits 0 either way.

Options:
${BACKEND_HELP}
  --json           machine-readable output.

Examples:
  baton leader scheduler
  baton leader scheduler --json | jq -r .value

Exit codes: 0 answered; ${ExitCode.USAGE} bad arguments; ${ExitCode.BACKEND} backend unreachable or failed.
`,
  observe: `Usage: baton observe NAME [--backend URL] [--json]

Prints the current leader of the election NAME, then a line for every change (a new leader, a new
value proclaimed, no leader), until interrupted. With --json, one JSON object per line:
{"time": ISO-8601, "leader": {"value", "token", "key"} | null}.

Options:
${BACKEND_HELP}
  --json           machine-readable output, one object per line.

Examples:
  baton observe scheduler
  baton observe scheduler --json | while read -r change; do ...; done

Exit codes: 0 interrupted (SIGINT/SIGTERM); ${ExitCode.USAGE} bad arguments; ${ExitCode.BACKEND} backend unreachable or failed.
`,
  status: `Usage: baton status NAME [--backend URL] [--permits N] [--json]

Prints who holds NAME and who waits, in the order they will be served, with fencing tokens, keys,
election values and ages. Works for locks, elections, read-write locks and semaphores (give
--permits for a semaphore, or all its leases are shown as holders), and where none of them uses
NAME, for a double barrier: its members, and whether all have arrived. The age of a key is how long
ago it was created: for a waiter, how long it has waited. ZooKeeper records when a node was created
(server clock); etcd does not, so on etcd ages are shown as "-" (null in JSON).

Options:
${BACKEND_HELP}
  --permits N      NAME is a semaphore of N permits.
  --json           machine-readable output: {"name", "kind", "holders": [...], "waiters": [...]}
                   ({"name", "kind", "ready", "members": [...]} for a double barrier).

Examples:
  baton status nightly-backup
  baton status gpu --permits 4 --json

Exit codes: 0 answered (also for an empty queue); ${ExitCode.USAGE} bad arguments; ${ExitCode.BACKEND} backend unreachable or failed.
`,
  dashboard: `Usage: baton dashboard [--backend URL] [--port P] [PREFIX]

Serves a live web page on 127.0.0.1 showing every lock, semaphore, read-write lock and election
under PREFIX (every name when omitted): holders and waiters in queue order, fencing tokens, how long
each has held or waited, leaders and their values, sessions and (except on ZooKeeper) their
remaining time.
The page is updated as the backend's watches report changes (server-sent events), not by polling.
It prints the page's address and serves until interrupted. It creates no keys.

Options:
${BACKEND_HELP}
  --port P         the port to listen on (default 0: a free port, printed at start).

Examples:
  baton dashboard --backend etcd://127.0.0.1:2379 --port 8080
  baton dashboard jobs          # only names under jobs/

Exit codes: 0 after an interrupt; ${ExitCode.USAGE} bad arguments; ${ExitCode.BACKEND} backend unreachable or failed.
`,
};

export function helpText(command: CommandName | undefined): string {
  return command === undefined ? MAIN_HELP : COMMAND_HELP[command];
}
