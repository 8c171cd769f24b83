/**
 * The names of the backends, on their own so that modules the contract itself depends on (the
 * health board) can name them without importing the contract back.
 * @module
 */

/** Which backend a coordinator talks to. */
export type BackendKind = 'memory' | 'etcd' | 'zookeeper' | 'postgres' | 'redis';
