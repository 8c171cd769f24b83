"""A benchmark peer using kazoo's recipes: N clients, each its own ZooKeeper session and thread,
loop on one recipe.

    python3 kazoo_bench.py <hosts> <mutex|semaphore|rwlock|election> <path> <clients> <warmup-seconds> <seconds> [permits]
    python3 kazoo_bench.py <hosts> uncontended <path> <iterations>

mutex: Lock; semaphore: Semaphore with max_leases=<permits>; rwlock: WriteLock when the client's
index % 4 == 0, ReadLock otherwise; election: Election.run, returning at once (a handover per turn).
Holds granted during the warm-up are not counted. For each counted exclusive hold it prints
"S <granted> <released>" (time.monotonic_ns(), CLOCK_MONOTONIC, the clock Node's
process.hrtime.bigint() reads), then "ALL <every hold, warm-up included>", "CPU <the process's CPU µs
from the end of the warm-up until its clients stopped>" and "RESULT <holds> <seconds>".

uncontended: one client, sequential, the shape of bench/zookeeper-uncontended.mjs: a raw
create(sequence=True, ephemeral=True) + delete through KazooClient against Lock's acquire +
release, <iterations> of each as a warm-up, then 20 interleaved rounds of <iterations>/20 (the
order alternating). The server's received-packet count (`srvr`), read around each timed round,
gives the requests per pair (a srvr is itself counted as one packet). Prints "JSON {raw, lock,
requests: {raw, lock}, rounds, perRound, perRoundMs: {raw, lock}}" (median of the rounds' mean ms
per pair, and every round's; requests null when the server does not answer `srvr`).
"""
import json
import re
import socket
import sys
import threading
import time

from kazoo.client import KazooClient


def packets_received(hosts):
    """The packets the first server of `hosts` has received (`srvr`), or None when it does not say."""
    host, _, port = hosts.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2) as conn:
            conn.sendall(b"srvr")
            answer = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return None
    found = re.search(rb"Received: (\d+)", answer)
    return int(found.group(1)) if found else None


def timed(n, pair):
    """n sequential pairs of `pair`: mean ms per pair."""
    start = time.perf_counter()
    for _ in range(n):
        pair()
    return (time.perf_counter() - start) * 1000 / n


def uncontended(hosts, path, iterations):
    rounds = 20
    per_round = iterations // rounds
    zk = KazooClient(hosts=hosts, timeout=30.0)
    zk.start(timeout=60)
    zk.ensure_path(path + "/raw")
    lock = zk.Lock(path + "/lock")

    def raw():
        zk.delete(zk.create(path + "/raw/n-", b"", ephemeral=True, sequence=True))

    def locked():
        lock.acquire()
        lock.release()

    timed(iterations, locked)
    timed(iterations, raw)
    times = {"raw": [], "lock": []}
    packets = {"raw": 0, "lock": 0}
    counted = True
    for round_ in range(rounds):
        # raw first in even rounds, the lock first in odd ones
        for kind, pair in (("raw", raw), ("lock", locked))[:: 1 if round_ % 2 == 0 else -1]:
            before = packets_received(hosts)
            times[kind].append(timed(per_round, pair))
            after = packets_received(hosts)
            if before is None or after is None:
                counted = False
            else:
                packets[kind] += after - before - 1  # the second srvr is counted too
    median = lambda xs: sorted(xs)[len(xs) // 2]
    result = {
        "raw": median(times["raw"]),
        "lock": median(times["lock"]),
        "requests": {kind: packets[kind] / (per_round * rounds) if counted else None for kind in packets},
        "rounds": rounds,
        "perRound": per_round,
        "perRoundMs": times,
    }
    sys.stdout.write("JSON %s\n" % json.dumps(result))
    sys.stdout.flush()
    zk.stop()
    zk.close()


def main():
    hosts, mode, path = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "uncontended":
        uncontended(hosts, path, int(sys.argv[4]))
        return
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
    every = [0]
    cpu_from = [0]

    def mark_cpu():
        time.sleep(max(0, measure_from - time.monotonic_ns()) / 1e9)
        cpu_from[0] = time.process_time_ns()

    threading.Thread(target=mark_cpu, daemon=True).start()

    def record(granted, released, exclusive):
        with guard:
            every[0] += 1
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
    cpu_us = (time.process_time_ns() - cpu_from[0]) // 1000
    out = ["S %d %d" % s for s in stamps]
    out.append("ALL %d" % every[0])
    out.append("CPU %d" % cpu_us)
    out.append("RESULT %d %f" % (count[0], seconds))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
    for zk in zks:
        zk.stop()
        zk.close()


if __name__ == "__main__":
    main()
