// A benchmark peer using Apache Curator's recipes: N clients, each its own ZooKeeper session and
// thread, loop on one recipe.
//
//   java CuratorBench <connect> <mutex|semaphore|rwlock|latch> <path> <clients> <warmup-seconds> <seconds> [permits]
//
// mutex: InterProcessMutex; semaphore: InterProcessSemaphoreV2 with <permits> leases;
// rwlock: InterProcessReadWriteLock, client i writes when i % 4 == 0 and reads otherwise;
// latch: LeaderLatch, started, awaited, closed in a loop (a leadership handover per turn).
// Holds granted during the warm-up are not counted. For each counted hold of a mutex, write lock
// or leadership it prints "S <granted> <released>" (System.nanoTime(), CLOCK_MONOTONIC on Linux,
// the clock Node's process.hrtime.bigint() reads), then "RESULT <holds> <seconds>".
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorBench {
    interface Turn { void run() throws Exception; }

    /** One client's loop body: acquire, stamp, release. Returns true when its hold is exclusive. */
    interface Body { Turn acquire() throws Exception; }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String mode = args[1];
        String path = args[2];
        int clients = Integer.parseInt(args[3]);
        long warmupNs = (long) (Double.parseDouble(args[4]) * 1e9);
        double seconds = Double.parseDouble(args[5]);
        int permits = args.length > 6 ? Integer.parseInt(args[6]) : 1;

        List<CuratorFramework> all = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(30000)
                .connectionTimeoutMs(30000)
                .retryPolicy(new ExponentialBackoffRetry(100, 3))
                .build();
            client.start();
            if (!client.blockUntilConnected(60, TimeUnit.SECONDS)) throw new IllegalStateException("not connected");
            all.add(client);
        }
        System.out.println("READY");
        System.out.flush();

        long start = System.nanoTime();
        long measureFrom = start + warmupNs;
        long end = measureFrom + (long) (seconds * 1e9);
        List<long[]> stamps = new ArrayList<>();
        long[] count = new long[1];
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            CuratorFramework client = all.get(i);
            boolean exclusive;
            Body body;
            switch (mode) {
                case "mutex": {
                    InterProcessMutex mutex = new InterProcessMutex(client, path);
                    exclusive = true;
                    body = () -> { mutex.acquire(); return mutex::release; };
                    break;
                }
                case "semaphore": {
                    InterProcessSemaphoreV2 semaphore = new InterProcessSemaphoreV2(client, path, permits);
                    exclusive = false;
                    body = () -> { Lease lease = semaphore.acquire(); return () -> semaphore.returnLease(lease); };
                    break;
                }
                case "rwlock": {
                    InterProcessReadWriteLock rw = new InterProcessReadWriteLock(client, path);
                    InterProcessMutex side = i % 4 == 0 ? rw.writeLock() : rw.readLock();
                    exclusive = i % 4 == 0;
                    body = () -> { side.acquire(); return side::release; };
                    break;
                }
                case "latch": {
                    String id = "curator-" + i;
                    exclusive = true;
                    body = () -> {
                        LeaderLatch latch = new LeaderLatch(client, path, id);
                        latch.start();
                        latch.await();
                        return latch::close;
                    };
                    break;
                }
                default:
                    throw new IllegalArgumentException("unknown mode " + mode);
            }
            boolean stampIt = exclusive;
            threads.add(new Thread(() -> {
                try {
                    while (System.nanoTime() < end) {
                        Turn release = body.acquire();
                        long granted = System.nanoTime();
                        long released = System.nanoTime();
                        if (granted >= measureFrom && granted < end) {
                            synchronized (stamps) {
                                count[0]++;
                                if (stampIt) stamps.add(new long[] {granted, released});
                            }
                        }
                        release.run();
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        for (Thread t : threads) t.start();
        for (Thread t : threads) t.join();
        StringBuilder out = new StringBuilder();
        for (long[] s : stamps) out.append("S ").append(s[0]).append(' ').append(s[1]).append('\n');
        out.append("RESULT ").append(count[0]).append(' ').append(seconds).append('\n');
        System.out.print(out);
        System.out.flush();
        for (CuratorFramework c : all) c.close();
        System.exit(0);
    }
}
