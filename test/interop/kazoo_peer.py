"""A small kazoo program driven over stdin/stdout by the interop tests and benchmarks.

    python3 kazoo_peer.py <hosts> lock <path>                      HELD <node>, RELEASED after "release"
    python3 kazoo_peer.py <hosts> bench-mutex <path> <clients> <seconds>   RESULT <acquisitions> <seconds>
    python3 kazoo_peer.py <hosts> barrier-set <path>               SET, REMOVED after "remove"
    python3 kazoo_peer.py <hosts> barrier-wait <path>              WAITING, PASSED once the barrier is gone

The lock is kazoo's Lock with extra_lock_patterns=['-lock-'], so that it sees Curator's and
Baton's `_c_<uuid>-lock-<seq>` contenders. Prints READY once connected, WAITING before it blocks.
"""
import sys
import threading
import time

from kazoo.client import KazooClient


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def await_line(expected):
    for line in sys.stdin:
        if line.strip() == expected:
            return
    sys.exit(0)


def client(hosts):
    c = KazooClient(hosts=hosts, timeout=10.0)
    c.start(timeout=30)
    return c


def main():
    hosts, mode, path = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "lock":
        c = client(hosts)
        lock = c.Lock(path, "kazoo", extra_lock_patterns=["-lock-"])
        say("READY")
        say("WAITING")
        lock.acquire()
        say("HELD " + path + "/" + lock.node)
        await_line("release")
        lock.release()
        say("RELEASED")
        c.stop()
        c.close()
    elif mode == "bench-mutex":
        clients = [client(hosts) for _ in range(int(sys.argv[4]))]
        seconds = float(sys.argv[5])
        say("READY")
        count = [0]
        guard = threading.Lock()
        end = time.monotonic() + seconds

        def run(c):
            lock = c.Lock(path, extra_lock_patterns=["-lock-"])
            while time.monotonic() < end:
                lock.acquire()
                with guard:
                    count[0] += 1
                lock.release()

        threads = [threading.Thread(target=run, args=(c,)) for c in clients]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        say("RESULT %d %f" % (count[0], time.monotonic() - start))
        for c in clients:
            c.stop()
            c.close()
    elif mode == "barrier-set":
        c = client(hosts)
        barrier = c.Barrier(path)
        say("READY")
        barrier.create()
        say("SET")
        await_line("remove")
        say("REMOVED" if barrier.remove() else "NOT-SET")
        c.stop()
        c.close()
    elif mode == "barrier-wait":
        c = client(hosts)
        barrier = c.Barrier(path)
        say("READY")
        say("WAITING")
        say("PASSED" if barrier.wait(timeout=60) else "TIMED-OUT")
        c.stop()
        c.close()
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
