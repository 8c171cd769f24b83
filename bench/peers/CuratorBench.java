// A benchmark peer using Apache Curator's recipes: N clients, each its own ZooKeeper session and
// thread, loop on one recipe.
//
//   java CuratorBench <connect> <mutex|semaphore|rwlock|latch> <path> <clients> <warmup-seconds> <seconds> [permits]
//   java CuratorBench <connect> uncontended <path> <iterations>
//
// mutex: InterProcessMutex; semaphore: InterProcessSemaphoreV2 with <permits> leases;
// rwlock: InterProcessReadWriteLock, client i writes when i % 4 == 0 and reads otherwise;
// latch: LeaderLatch, started, awaited, closed in a loop (a leadership handover per turn).
// Holds granted during the warm-up are not counted. For each counted hold of a mutex, write lock
// or leadership it prints "S <granted> <released>" (System.nanoTime(), CLOCK_MONOTONIC on Linux,
// the clock Node's process.hrtime.bigint() reads), then "ALL <every hold, warm-up included>",
// "CPU <the process's CPU µs, every thread, from the end of the warm-up until its clients
// stopped>" and "RESULT <holds> <seconds>".
//
// uncontended: one client, sequential, the shape of bench/zookeeper-uncontended.mjs: a raw
// create(EPHEMERAL_SEQUENTIAL) + delete through CuratorFramework against InterProcessMutex's
// acquire + release, <iterations> of each as a warm-up, then 20 interleaved rounds of
// <iterations>/20 (the order alternating). The server's received-packet count (`srvr`), read
// around each timed round, gives the requests per pair (a srvr is itself counted as one packet).
// Prints "JSON {raw, lock, requests: {raw, lock}, rounds, perRound, perRoundMs: {raw, lock}}"
// (median of the rounds' mean ms per pair, and every round's; requests null when the server does
// not answer `srvr`).
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;

public class CuratorBench {
    interface Turn { void run() throws Exception; }

    /** One client's loop body: acquire, stamp, release. Returns true when its hold is exclusive. */
    interface Body { Turn acquire() throws Exception; }

    static CuratorFramework connected(String connect) throws InterruptedException {
        CuratorFramework client = CuratorFrameworkFactory.builder()
            .connectString(connect)
            .sessionTimeoutMs(30000)
            .connectionTimeoutMs(30000)
            .retryPolicy(new ExponentialBackoffRetry(100, 3))
            .build();
        client.start();
        if (!client.blockUntilConnected(60, TimeUnit.SECONDS)) throw new IllegalStateException("not connected");
        return client;
    }

    /** The packets the first server of `connect` has received (`srvr`), or -1 when it does not say. */
    static long packetsReceived(String connect) {
        String first = connect.split(",")[0];
        int colon = first.lastIndexOf(':');
        try (Socket socket = new Socket(first.substring(0, colon), Integer.parseInt(first.substring(colon + 1)))) {
            socket.setSoTimeout(2000);
            socket.getOutputStream().write("srvr".getBytes(StandardCharsets.US_ASCII));
            Matcher m = Pattern.compile("Received: (\\d+)").matcher(new String(socket.getInputStream().readAllBytes(), StandardCharsets.US_ASCII));
            return m.find() ? Long.parseLong(m.group(1)) : -1;
        } catch (IOException e) {
            return -1;
        }
    }

    /** n sequential pairs of `pair`: mean ms per pair. */
    static double timed(int n, Turn pair) throws Exception {
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) pair.run();
        return (System.nanoTime() - start) / 1e6 / n;
    }

    static double median(double[] xs) {
        double[] sorted = xs.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    static void uncontended(String connect, String path, int iterations) throws Exception {
        int rounds = 20;
        int perRound = iterations / rounds;
        CuratorFramework client = connected(connect);
        client.create().creatingParentsIfNeeded().forPath(path + "/raw");
        InterProcessMutex mutex = new InterProcessMutex(client, path + "/lock");
        Turn raw = () -> client.delete().forPath(client.create().withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(path + "/raw/n-"));
        Turn lock = () -> { mutex.acquire(); mutex.release(); };
        timed(iterations, lock);
        timed(iterations, raw);
        double[][] times = new double[2][rounds];
        long[] packets = new long[2];
        boolean counted = true;
        for (int round = 0; round < rounds; round++) {
            for (int turn = 0; turn < 2; turn++) {
                int kind = (turn + round) % 2; // raw first in even rounds, the lock first in odd ones
                long before = packetsReceived(connect);
                times[kind][round] = timed(perRound, kind == 0 ? raw : lock);
                long after = packetsReceived(connect);
                if (before < 0 || after < 0) counted = false;
                packets[kind] += after - before - 1; // the second srvr is counted too
            }
        }
        String requests = counted
            ? String.format("{\"raw\":%s,\"lock\":%s}", (double) packets[0] / (perRound * rounds), (double) packets[1] / (perRound * rounds))
            : "{\"raw\":null,\"lock\":null}";
        System.out.printf("JSON {\"raw\":%s,\"lock\":%s,\"requests\":%s,\"rounds\":%d,\"perRound\":%d,\"perRoundMs\":{\"raw\":%s,\"lock\":%s}}%n",
            median(times[0]), median(times[1]), requests, rounds, perRound, Arrays.toString(times[0]), Arrays.toString(times[1]));
        System.out.flush();
        client.close();
        System.exit(0);
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String mode = args[1];
        String path = args[2];
        if (mode.equals("uncontended")) uncontended(connect, path, Integer.parseInt(args[3]));
        int clients = Integer.parseInt(args[3]);
        long warmupNs = (long) (Double.parseDouble(args[4]) * 1e9);
        double seconds = Double.parseDouble(args[5]);
        int permits = args.length > 6 ? Integer.parseInt(args[6]) : 1;

        List<CuratorFramework> all = new ArrayList<>();
        for (int i = 0; i < clients; i++) all.add(connected(connect));
        System.out.println("READY");
        System.out.flush();

        long start = System.nanoTime();
        long measureFrom = start + warmupNs;
        long end = measureFrom + (long) (seconds * 1e9);
        List<long[]> stamps = new ArrayList<>();
        long[] count = new long[1];
        long[] every = new long[1];
        com.sun.management.OperatingSystemMXBean os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        long[] cpuFrom = new long[1];
        Thread cpuMark = new Thread(() -> {
            try {
                TimeUnit.NANOSECONDS.sleep(Math.max(0, measureFrom - System.nanoTime()));
            } catch (InterruptedException e) {
                return;
            }
            cpuFrom[0] = os.getProcessCpuTime();
        });
        cpuMark.setDaemon(true);
        cpuMark.start();
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
                        synchronized (stamps) {
                            every[0]++;
                        }
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
        long cpuUs = (os.getProcessCpuTime() - cpuFrom[0]) / 1000;
        StringBuilder out = new StringBuilder();
        for (long[] s : stamps) out.append("S ").append(s[0]).append(' ').append(s[1]).append('\n');
        out.append("ALL ").append(every[0]).append('\n');
        out.append("CPU ").append(cpuUs).append('\n');
        out.append("RESULT ").append(count[0]).append(' ').append(seconds).append('\n');
        System.out.print(out);
        System.out.flush();
        for (CuratorFramework c : all) c.close();
        System.exit(0);
    }
}
