/**
 * Where the command writes and what environment it reads; injectable for tests.
 * @module
 */
export interface Io {
  readonly env: NodeJS.ProcessEnv;
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes one line, prefixed with "baton: ", to standard error. */
  err(line: string): void;
}

export const processIo: Io = {
  env: process.env,
  out: (text) => void process.stdout.write(text),
  err: (line) => void process.stderr.write(`baton: ${line}\n`),
};

/** Closes a coordinator without waiting for ever on a backend that stopped answering. */
export async function closeWithin(close: () => Promise<void>, ms: number): Promise<void> {
  await settleWithin(close(), ms, 'no answer').catch(() => {});
}

/** `work`, or a rejection with `message` after `ms`. */
export async function settleWithin(work: Promise<void>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
