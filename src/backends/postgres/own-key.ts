/**
 * The own-key watch an enqueue returns (contract v2's `OwnKey`), declared here until the shared
 * contract carries it: its signal aborts when the key is deleted or its session is lost.
 * @module
 */
export interface OwnKey {
  readonly signal: AbortSignal;
  dispose(): void;
}
