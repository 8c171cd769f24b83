/**
 * Who holds the {@link PrefixView}s. {@link SharedViews}: the views of one connection and one
 * namespace, one per prefix, shared by every coordinator of the process that uses that connection
 * (./shared-connection.ts), so a change under a watched prefix reaches the process once, not once
 * per coordinator. {@link ViewRegistry}: one coordinator's use of them, which keeps count of the
 * references it holds and registers its waits and own keys under its own name, so that closing it
 * ends its waits alone and gives its references back.
 * @module
 */
import { ClosedError } from '../../errors.js';
import { confirmedWrite, leaveClusters, type PeerWrites } from './process-writes.js';
import { PrefixView, type ViewHost, type ViewOwner } from './view.js';

/**
 * The views of one connection and namespace, one per prefix, created on first use. A view lives
 * while a coordinator has keys or waits under its prefix, and lingers a while after, so that a
 * name used again and again (a lock taken in a loop) keeps its one watch.
 */
export class SharedViews implements PeerWrites {
  readonly #host: ViewHost;
  readonly #views = new Map<string, PrefixView>();
  readonly #lingerMs: number;
  #closed = false;
  /** Wait checks of the views dropped so far (see {@link checks}). */
  #droppedChecks = 0;

  constructor(host: ViewHost, lingerMs: number) {
    this.#host = host;
    this.#lingerMs = lingerMs;
  }

  /** Wait conditions evaluated by every view so far (counted for tests). */
  get checks(): number {
    let total = this.#droppedChecks;
    for (const view of this.#views.values()) total += view.checks;
    return total;
  }

  /** The views, live or failed (a failed one until it is replaced or dropped). */
  get views(): IterableIterator<PrefixView> {
    return this.#views.values();
  }

  /** The live view of `prefix`, if there is one. */
  find(prefix: string): PrefixView | undefined {
    const view = this.#views.get(prefix);
    return view && view.failure === undefined ? view : undefined;
  }

  /** The view of `prefix`, created if needed, with one more reference (give it back with {@link release}). */
  acquire(prefix: string): PrefixView {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
    let view = this.find(prefix);
    if (!view) {
      const failed = this.#views.get(prefix);
      view = new PrefixView(this.#host, prefix);
      // A failed view's own keys are still their coordinators': the new view watches them.
      for (const [key, owner] of failed?.own ?? []) view.addListedOwn(key, owner);
      this.#droppedChecks += failed?.checks ?? 0;
      this.#views.set(prefix, view);
    }
    // The linger timer, if any, is left to run: it finds the view in use and lets it be. Clearing
    // and arming it again on every acquire and release of a name in a loop cost a timer each.
    view.idleSince = undefined;
    view.refs++;
    return view;
  }

  release(view: PrefixView, count = 1): void {
    view.refs -= count;
    this.settle(view);
  }

  /**
   * A view nobody uses any more (no references, no own keys) is dropped once it has stayed unused
   * for the linger time: one timer per view, armed again for the rest of the time when it fires
   * on a view that was used meanwhile.
   */
  settle(view: PrefixView): void {
    if (view.refs > 0 || view.own.size > 0) return;
    if (view.failure !== undefined || this.#closed) {
      this.#drop(view);
      return;
    }
    view.idleSince ??= performance.now();
    if (view.lingerTimer === undefined) this.#lingerFor(view, this.#lingerMs);
  }

  #lingerFor(view: PrefixView, ms: number): void {
    view.lingerTimer = setTimeout(() => {
      view.lingerTimer = undefined;
      if (view.refs > 0 || view.own.size > 0 || view.idleSince === undefined) return; // in use: settle arms it again
      const left = view.idleSince + this.#lingerMs - performance.now();
      if (left > 0) this.#lingerFor(view, left);
      else this.#drop(view);
    }, ms);
    view.lingerTimer.unref();
  }

  #drop(view: PrefixView): void {
    if (this.#views.get(view.prefix) === view) {
      this.#views.delete(view.prefix);
      this.#droppedChecks += view.checks;
    }
    view.close();
  }

  /**
   * A write of `key` was confirmed at `revision` by cluster `clusterId`: the coordinators of this
   * process on other connections hold their position reports until they show it (those sharing
   * these views wait for it through the view's floor).
   */
  shareWrite(key: string, revision: bigint, clusterId: bigint): void {
    confirmedWrite(this, clusterId, () => this.#host.keys.full(key), revision);
  }

  peerWrote(full: Buffer, revision: bigint): void {
    const { keys } = this.#host;
    if (this.#closed || !keys.contains(full)) return;
    for (const view of this.covering(keys.logical(full))) view.raiseReportFloor(revision);
  }

  /** Every live view whose watched range contains `key`. */
  covering(key: string): PrefixView[] {
    const found: PrefixView[] = [];
    for (const view of this.#views.values()) if (key.startsWith(`${view.prefix}/`)) found.push(view);
    return found;
  }

  /** Stops every watch (the last coordinator using these views closed). */
  closeAll(): void {
    this.#closed = true;
    leaveClusters(this);
    for (const view of this.#views.values()) view.close();
    this.#views.clear();
  }
}

/**
 * One coordinator's use of the shared views: the references it holds, its own keys and its waits,
 * registered as its own. Vanished own keys are reported to `ownKeyVanished`.
 */
export class ViewRegistry implements ViewOwner {
  readonly #shared: SharedViews;
  readonly #ownKeyVanished: (key: string) => void;
  /** References this coordinator holds, by view: given back at once when it closes. */
  readonly #refs = new Map<PrefixView, number>();
  #closed = false;

  constructor(shared: SharedViews, ownKeyVanished: (key: string) => void) {
    this.#shared = shared;
    this.#ownKeyVanished = ownKeyVanished;
  }

  /** Wait conditions evaluated by the shared views so far (counted for tests). */
  get checks(): number {
    return this.#shared.checks;
  }

  ownKeyVanished(key: string): void {
    if (!this.#closed) this.#ownKeyVanished(key);
  }

  /** The live view of `prefix`, if there is one. */
  find(prefix: string): PrefixView | undefined {
    return this.#shared.find(prefix);
  }

  /** The view of `prefix`, with one more reference of this coordinator (give it back with {@link release}). */
  acquire(prefix: string): PrefixView {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
    const view = this.#shared.acquire(prefix);
    this.#refs.set(view, (this.#refs.get(view) ?? 0) + 1);
    return view;
  }

  /** Gives back a reference; one given back already (the coordinator closed meanwhile) is not given again. */
  release(view: PrefixView): void {
    const held = this.#refs.get(view);
    if (held === undefined) return;
    if (held === 1) this.#refs.delete(view);
    else this.#refs.set(view, held - 1);
    this.#shared.release(view);
  }

  settle(view: PrefixView): void {
    this.#shared.settle(view);
  }

  shareWrite(key: string, revision: bigint, clusterId: bigint): void {
    this.#shared.shareWrite(key, revision, clusterId);
  }

  covering(key: string): PrefixView[] {
    return this.#shared.covering(key);
  }

  /** Stops counting as own the keys of this coordinator that `owned` matches (their session ended). */
  forgetOwner(owned: (key: string) => boolean): void {
    for (const view of [...this.#shared.views]) {
      for (const [key, owner] of view.own) if (owner === this && owned(key)) view.forgetOwn(key);
      this.#shared.settle(view);
    }
  }

  /**
   * The coordinator closed: its pending waits reject with a ClosedError, its own keys are
   * forgotten and its references given back. The views go on for the other coordinators.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new ClosedError('the coordinator was closed');
    for (const view of [...this.#shared.views]) view.leave(this, closed);
    const held = [...this.#refs];
    this.#refs.clear();
    for (const [view, count] of held) this.#shared.release(view, count);
    for (const view of [...this.#shared.views]) this.#shared.settle(view);
  }
}
