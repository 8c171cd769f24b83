"""A benchmark peer using kazoo's recipes: N clients, each its own ZooKeeper session and thread,
loop on one recipe.

    python3 kazoo_bench.py <hosts> <mutex|semaphore|rwlock|election> <path> <clients> <warmup-seconds> <seconds> [permits]

mutex: Lock; semaphore: Semaphore with max_leases=<permits>; rwlock: WriteLock when the client's
index % 4 == 0, ReadLock otherwise; election: Election.run, returning at once (a handover per turn).
Holds granted during the warm-up are not counted. For each counted exclusive hold it prints
"S <granted> <released>" (time.monotonic_ns(), CLOCK_MONOTONIC, the clock Node's
process.hrtime.bigint() reads), then "RESULT <holds> <seconds>".
"""
import sys
import threading
import time

from kazoo.client import KazooClient


def main():
    hosts, mode, path = sys.argv[1], sys.argv[2], sys.argv[3]
    clients = int(sys.argv[4])
    warmup, seconds = float(sys.argv[5]), float(sys.argv[6])
    permits = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    zks = []
    for _ in range(clients):
        zk = KazooClient(hosts=hosts, timeout=30.0)
        zk.start(timeout=60)
        zks.append(zk)
    sys.stdout.write("READY\n")
    sys.stdout.flush()

    start = time.monotonic_ns()
    measure_from = start + int(warmup * 1e9)
    end = measure_from + int(seconds * 1e9)
    guard = threading.Lock()
    stamps = []
    count = [0]

    def record(granted, released, exclusive):
        if measure_from <= granted < end:
            with guard:
                count[0] += 1
                if exclusive:
                    stamps.append((granted, released))

    def run(index, zk):
        if mode == "election":
            election = zk.Election(path, "kazoo-%d" % index)

            def lead():
                granted = time.monotonic_ns()
                record(granted, time.monotonic_ns(), True)

            while time.monotonic_ns() < end:
                election.run(lead)
            return
        if mode == "mutex":
            lock, exclusive = zk.Lock(path, extra_lock_patterns=["-lock-"]), True
        elif mode == "semaphore":
            lock, exclusive = zk.Semaphore(path, max_leases=permits), False
        elif mode == "rwlock":
            exclusive = index % 4 == 0
            lock = zk.WriteLock(path) if exclusive else zk.ReadLock(path)
        else:
            raise SystemExit("unknown mode " + mode)
        while time.monotonic_ns() < end:
            lock.acquire()
            granted = time.monotonic_ns()
            record(granted, time.monotonic_ns(), exclusive)
            lock.release()

    threads = [threading.Thread(target=run, args=(i, zk)) for i, zk in enumerate(zks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = ["S %d %d" % s for s in stamps]
    out.append("RESULT %d %f" % (count[0], seconds))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
    for zk in zks:
        zk.stop()
        zk.close()


if __name__ == "__main__":
    main()
