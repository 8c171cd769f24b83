// A benchmark peer using Go's own etcd client (go.etcd.io/etcd/clientv3/concurrency, as shipped
// with etcd 3.4): N clients, each its own session, loop on one Mutex or Election. With "own" (the
// default) each client has its own clientv3.Client (connection); with "shared" the N sessions
// share one clientv3.Client, as Baton's coordinators of one process share one connection.
//
//	etcd_peer <endpoints> <mutex|election> <name> <clients> <warmup-seconds> <seconds> [own|shared]
//	etcd_peer <endpoints> uncontended <name> <iterations>
//
// Holds granted during the first warm-up seconds are not counted. For each counted hold it prints
// "S <granted> <released>" (CLOCK_MONOTONIC nanoseconds, the clock Node's process.hrtime.bigint()
// reads), then "RESULT <holds> <seconds>".
//
// uncontended: one client, sequential, the shape of bench/zookeeper-uncontended.mjs: a raw Put +
// Delete of one key through clientv3 against a concurrency.Mutex's Lock + Unlock on one session,
// <iterations> of each as a warm-up, then 20 interleaved rounds of <iterations>/20 (the order
// alternating). Prints
// "JSON {raw, lock, rounds, perRound}" (median of the rounds' mean ms per pair).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"golang.org/x/sys/unix"
)

func now() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

type stamp struct{ granted, released int64 }

// timed runs n sequential pairs of pair: mean ms per pair.
func timed(n int, pair func() error) float64 {
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := pair(); err != nil {
			panic(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / 1e6 / float64(n)
}

func median(xs []float64) float64 {
	sorted := append([]float64(nil), xs...)
	sort.Float64s(sorted)
	return sorted[len(sorted)/2]
}

// newClient connects to the endpoints, or ends the peer: a benchmark has no use for a failed client.
func newClient(endpoints []string) *clientv3.Client {
	client, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	return client
}

// newSession opens a session (its lease kept alive by the client) with a 30 s TTL, or ends the peer.
func newSession(client *clientv3.Client) *concurrency.Session {
	session, err := concurrency.NewSession(client, concurrency.WithTTL(30))
	if err != nil {
		panic(err)
	}
	return session
}

func uncontended(endpoints []string, name string, iterations int) {
	const rounds = 20
	perRound := iterations / rounds
	client := newClient(endpoints)
	defer client.Close()
	session := newSession(client)
	defer session.Close()
	ctx := context.Background()
	key := name + "/raw"
	raw := func() error {
		if _, err := client.Put(ctx, key, ""); err != nil {
			return err
		}
		_, err := client.Delete(ctx, key)
		return err
	}
	mutex := concurrency.NewMutex(session, name+"/lock")
	lock := func() error {
		if err := mutex.Lock(ctx); err != nil {
			return err
		}
		return mutex.Unlock(ctx)
	}
	timed(iterations, lock)
	timed(iterations, raw)
	var rawTimes, lockTimes []float64
	for round := 0; round < rounds; round++ {
		// raw first in even rounds, the lock first in odd ones
		if round%2 == 0 {
			rawTimes = append(rawTimes, timed(perRound, raw))
		}
		lockTimes = append(lockTimes, timed(perRound, lock))
		if round%2 == 1 {
			rawTimes = append(rawTimes, timed(perRound, raw))
		}
	}
	out, _ := json.Marshal(map[string]interface{}{"raw": median(rawTimes), "lock": median(lockTimes), "rounds": rounds, "perRound": perRound})
	fmt.Printf("JSON %s\n", out)
}

func main() {
	if len(os.Args) == 5 && os.Args[2] == "uncontended" {
		iterations, err := strconv.Atoi(os.Args[4])
		if err != nil {
			panic(err)
		}
		uncontended(strings.Split(os.Args[1], ","), os.Args[3], iterations)
		return
	}
	if len(os.Args) != 7 && len(os.Args) != 8 {
		fmt.Fprintln(os.Stderr, "usage: etcd_peer <endpoints> <mutex|election> <name> <clients> <warmup-seconds> <seconds> [own|shared]\n       etcd_peer <endpoints> uncontended <name> <iterations>")
		os.Exit(2)
	}
	shared := len(os.Args) == 8 && os.Args[7] == "shared"
	if len(os.Args) == 8 && os.Args[7] != "shared" && os.Args[7] != "own" {
		fmt.Fprintln(os.Stderr, "the last argument must be own or shared")
		os.Exit(2)
	}
	endpoints := strings.Split(os.Args[1], ",")
	mode, name := os.Args[2], os.Args[3]
	clients, _ := strconv.Atoi(os.Args[4])
	warmup, _ := strconv.ParseFloat(os.Args[5], 64)
	seconds, _ := strconv.ParseFloat(os.Args[6], 64)

	sessions := make([]*concurrency.Session, clients)
	var client *clientv3.Client
	for i := range sessions {
		if client == nil || !shared {
			client = newClient(endpoints)
			defer client.Close()
		}
		session := newSession(client)
		defer session.Close()
		sessions[i] = session
	}
	fmt.Println("READY")

	start := now()
	measureFrom := start + int64(warmup*1e9)
	end := measureFrom + int64(seconds*1e9)
	var mu sync.Mutex
	var stamps []stamp
	var wg sync.WaitGroup
	ctx := context.Background()
	for i, session := range sessions {
		wg.Add(1)
		go func(i int, session *concurrency.Session) {
			defer wg.Done()
			var hold, unhold func() error
			switch mode {
			case "mutex":
				m := concurrency.NewMutex(session, name)
				hold = func() error { return m.Lock(ctx) }
				unhold = func() error { return m.Unlock(ctx) }
			case "election":
				e := concurrency.NewElection(session, name)
				value := fmt.Sprintf("go-%d", i)
				hold = func() error { return e.Campaign(ctx, value) }
				unhold = func() error { return e.Resign(ctx) }
			default:
				panic("unknown mode " + mode)
			}
			for now() < end {
				if err := hold(); err != nil {
					panic(err)
				}
				granted := now()
				released := now()
				if granted >= measureFrom && granted < end {
					mu.Lock()
					stamps = append(stamps, stamp{granted, released})
					mu.Unlock()
				}
				if err := unhold(); err != nil {
					panic(err)
				}
			}
		}(i, session)
	}
	wg.Wait()
	out := bufio.NewWriter(os.Stdout)
	for _, s := range stamps {
		fmt.Fprintf(out, "S %d %d\n", s.granted, s.released)
	}
	fmt.Fprintf(out, "RESULT %d %f\n", len(stamps), seconds)
	out.Flush()
}
