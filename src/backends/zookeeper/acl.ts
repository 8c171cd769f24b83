/**
 * ACLs of the nodes Baton creates.
 *
 * Without credentials every node is open (`world:anyone` ALL), as Curator and kazoo create them by
 * default. With digest credentials, every node Baton creates (the chroot and prefix nodes it has
 * to create, the contender nodes, guarded-write targets) gets `world:anyone` READ plus ALL for the
 * digest identity `digest:<user>:<base64 sha1(user:password)>`. ZooKeeper checks DELETE (and
 * CREATE) on the *parent* of the node being deleted (created), so restricting the contender nodes
 * alone would not protect them: it is the parents' ACL that keeps other identities from deleting
 * Baton's nodes or queueing their own. Other identities can still read everything, so they can
 * observe leaders and queues. Parents that already existed keep whatever ACL they were created
 * with; Baton never changes an existing ACL.
 * @module
 */
import { createHash } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import type { ACL } from 'node-zookeeper-client';

/** ZooKeeper's digest id of a user: `user:base64(sha1("user:password"))`. */
export function digestId(username: string, password: string): string {
  return `${username}:${createHash('sha1').update(`${username}:${password}`).digest('base64')}`;
}

/** The ACL for every node Baton creates, given the configured credentials. */
export function aclFor(auth: { username: string; password: string } | undefined): ACL[] {
  if (!auth) return [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))];
  return [
    new zookeeper.ACL(zookeeper.Permission.READ, new zookeeper.Id('world', 'anyone')),
    new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('digest', digestId(auth.username, auth.password))),
  ];
}
