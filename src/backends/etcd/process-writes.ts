/**
 * The etcd adapters (one per coordinator) of this process, by the cluster they talk to, so that a
 * write one of them has seen confirmed reaches the others: each has its own connection and
 * watch, and another's watch may show that write later than the writer's answer came. Queue
 * positions of the others hold their reports until their watch shows it (PrefixView's report
 * floor): a report made after a write completed in this process never shows an older state
 * (issue 11, the principle of issue 9's "never older than a write that completed before the call").
 *
 * Keyed by the cluster id of the answers, not by endpoints: two coordinators may reach one cluster
 * by different addresses, and two clusters (tests start one each) must never hold each other's
 * reports for a revision their watches will never reach.
 * @module
 */

/** An adapter told of the writes the others confirmed. */
export interface PeerWrites {
  /** Another adapter of this process on the same cluster wrote etcd key `full` at `revision`. */
  peerWrote(full: Buffer, revision: bigint): void;
}

const byCluster = new Map<bigint, Set<PeerWrites>>();

/**
 * `writer` saw its write of etcd key `full` (or the function that makes it) confirmed at `revision` by cluster `clusterId`: the
 * other adapters on that cluster are told. `writer` is known from then on as one of that
 * cluster's (an adapter with positions to report has written its own key first).
 */
export function confirmedWrite(writer: PeerWrites, clusterId: bigint, full: Buffer | (() => Buffer), revision: bigint): void {
  if (clusterId === 0n) return; // no cluster id in the answer: nothing to key it by
  let peers = byCluster.get(clusterId);
  if (!peers) byCluster.set(clusterId, (peers = new Set()));
  peers.add(writer);
  if (peers.size === 1) return;
  // The etcd key is made only when there is someone to tell (most processes have one adapter).
  const key = typeof full === 'function' ? full() : full;
  for (const peer of peers) if (peer !== writer) peer.peerWrote(key, revision);
}

/** `adapter` is closed: it is told nothing more. */
export function leaveClusters(adapter: PeerWrites): void {
  for (const [clusterId, peers] of byCluster) {
    if (peers.delete(adapter) && peers.size === 0) byCluster.delete(clusterId);
  }
}
