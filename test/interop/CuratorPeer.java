// A small Apache Curator program driven over stdin/stdout by the interop tests and benchmarks.
//
//   java CuratorPeer <connect> lock <path>               HELD <node> / RELEASED after a "release" line
//   java CuratorPeer <connect> latch <path> <id>         LEADER <id> when it leads; "close" ends it
//   java CuratorPeer <connect> semaphore <path> <n>      HELD <node>; "release" gives the lease back
//   java CuratorPeer <connect> bench-mutex <path> <clients> <seconds>   RESULT <acquisitions> <seconds>
//
// Every mode prints READY once its client is connected and WAITING just before it blocks.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorPeer {
    static final BufferedReader IN = new BufferedReader(new InputStreamReader(System.in));

    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void awaitLine(String expected) throws Exception {
        String line;
        while ((line = IN.readLine()) != null) {
            if (line.trim().equals(expected)) return;
        }
        System.exit(0); // stdin closed: the test is gone
    }

    static CuratorFramework client(String connect) throws Exception {
        CuratorFramework client = CuratorFrameworkFactory.builder()
            .connectString(connect)
            .sessionTimeoutMs(10000)
            .connectionTimeoutMs(10000)
            .retryPolicy(new ExponentialBackoffRetry(100, 3))
            .build();
        client.start();
        if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) throw new IllegalStateException("not connected");
        return client;
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String mode = args[1];
        String path = args[2];
        switch (mode) {
            case "lock": {
                CuratorFramework client = client(connect);
                InterProcessMutex mutex = new InterProcessMutex(client, path);
                say("READY");
                say("WAITING");
                mutex.acquire();
                say("HELD " + firstOwnNode(mutex));
                awaitLine("release");
                mutex.release();
                say("RELEASED");
                client.close();
                break;
            }
            case "latch": {
                CuratorFramework client = client(connect);
                LeaderLatch latch = new LeaderLatch(client, path, args[3]);
                latch.addListener(new LeaderLatchListener() {
                    public void isLeader() { say("LEADER " + args[3]); }
                    public void notLeader() { say("NOTLEADER " + args[3]); }
                });
                latch.start();
                say("READY");
                say("WAITING");
                awaitLine("close");
                latch.close();
                say("CLOSED");
                client.close();
                break;
            }
            case "semaphore": {
                CuratorFramework client = client(connect);
                InterProcessSemaphoreV2 semaphore = new InterProcessSemaphoreV2(client, path, Integer.parseInt(args[3]));
                say("READY");
                say("WAITING");
                Lease lease = semaphore.acquire();
                say("HELD " + lease.getNodeName());
                awaitLine("release");
                semaphore.returnLease(lease);
                say("RELEASED");
                client.close();
                break;
            }
            case "bench-mutex": {
                int clients = Integer.parseInt(args[3]);
                double seconds = Double.parseDouble(args[4]);
                List<CuratorFramework> all = new ArrayList<>();
                for (int i = 0; i < clients; i++) all.add(client(connect));
                say("READY");
                AtomicLong count = new AtomicLong();
                long end = System.nanoTime() + (long) (seconds * 1e9);
                List<Thread> threads = new ArrayList<>();
                for (CuratorFramework c : all) {
                    InterProcessMutex mutex = new InterProcessMutex(c, path);
                    Thread t = new Thread(() -> {
                        try {
                            while (System.nanoTime() < end) {
                                mutex.acquire();
                                count.incrementAndGet();
                                mutex.release();
                            }
                        } catch (Exception e) {
                            throw new RuntimeException(e);
                        }
                    });
                    threads.add(t);
                }
                long start = System.nanoTime();
                for (Thread t : threads) t.start();
                for (Thread t : threads) t.join();
                double elapsed = (System.nanoTime() - start) / 1e9;
                say("RESULT " + count.get() + " " + elapsed);
                for (CuratorFramework c : all) c.close();
                break;
            }
            default:
                throw new IllegalArgumentException("unknown mode " + mode);
        }
        System.exit(0);
    }

    // The node of this process's hold: Curator keeps it private, so find it among the children
    // as the lowest one carrying our protected-mode prefix is not knowable either; report the
    // lowest child, which is the holder's node while we hold.
    static String firstOwnNode(InterProcessMutex mutex) throws Exception {
        java.util.Collection<String> nodes = mutex.getParticipantNodes();
        return nodes.isEmpty() ? "?" : nodes.iterator().next();
    }
}
