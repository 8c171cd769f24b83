/**
 * Timeouts that let answers already received be read first.
 *
 * Node runs due timers before it reads the sockets. After the process was busy for longer than a
 * timeout (a burst of watch events over many coordinators, a long garbage collection), the timer
 * of every call in flight then fires before the answers already waiting in the socket are read:
 * each call would count as unanswered, its member as failing and its connection be dropped, and
 * a lease kept alive be declared lost, although etcd had answered in time. A timeout made here
 * decides only after one more pass over the sockets (setImmediate runs after it), so an answer
 * that is there wins.
 * @module
 */

/**
 * Like `setTimeout(fire, ms)`, except that `fire` runs after the I/O that was ready when the
 * timer came due. `fire` must check that what it times out is still pending: clearing the timer
 * after it came due does not stop it.
 */
export function timeoutAfterIo(fire: () => void, ms: number): NodeJS.Timeout {
  return setTimeout(() => void setImmediate(fire), ms);
}
