/**
 * Command-line parsing: `baton COMMAND [OPTIONS] NAME [OPTIONS] [--] [CMD [ARGS...]]`.
 * Options may come before or after NAME, as `--opt value` or `--opt=value`. For the commands
 * that run a program, the first argument after NAME that is not an option starts the program's
 * command line, and so does everything after `--`: baton never reads options past that point.
 * @module
 */
import { usageError } from './errors.js';

export const COMMANDS = ['lock', 'semaphore', 'elect', 'leader', 'observe', 'status', 'dashboard'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** Commands that run a program while holding something. */
export const HOLDING_COMMANDS: readonly CommandName[] = ['lock', 'semaphore', 'elect'];

type OptionName = 'backend' | 'ttl' | 'timeout' | 'grace' | 'permits' | 'value' | 'port' | 'json' | 'verbose' | 'help';

interface OptionSpec {
  /** Takes a value (`--ttl 10`) or is a flag (`--json`). */
  readonly takesValue: boolean;
  readonly short?: string;
  /** What the value is, for messages. */
  readonly valueName?: string;
}

const OPTIONS: Record<OptionName, OptionSpec> = {
  backend: { takesValue: true, valueName: 'URL' },
  ttl: { takesValue: true, valueName: 'SECONDS' },
  timeout: { takesValue: true, valueName: 'SECONDS' },
  grace: { takesValue: true, valueName: 'SECONDS' },
  permits: { takesValue: true, valueName: 'N' },
  value: { takesValue: true, valueName: 'VALUE' },
  port: { takesValue: true, valueName: 'PORT' },
  json: { takesValue: false },
  verbose: { takesValue: false, short: 'v' },
  help: { takesValue: false, short: 'h' },
};

const HOLDING: readonly OptionName[] = ['backend', 'ttl', 'timeout', 'grace', 'verbose', 'help'];

/** Which options each command accepts. */
export const ACCEPTED: Record<CommandName, readonly OptionName[]> = {
  lock: HOLDING,
  semaphore: [...HOLDING, 'permits'],
  elect: [...HOLDING, 'value'],
  leader: ['backend', 'json', 'help'],
  observe: ['backend', 'json', 'help'],
  status: ['backend', 'permits', 'json', 'help'],
  dashboard: ['backend', 'port', 'help'],
};

/** Commands whose NAME may be left out: the dashboard's PREFIX (omitted: every name). */
const NAME_OPTIONAL: readonly CommandName[] = ['dashboard'];

/** Default `--grace`: seconds between SIGTERM and SIGKILL when a hold is lost. */
export const DEFAULT_GRACE_SECONDS = 10;

/** A parsed invocation of a command. */
export interface Invocation {
  readonly command: CommandName;
  readonly name: string;
  readonly backend: string | undefined;
  /** Session TTL in seconds, or undefined for the backend's default. */
  readonly ttl: number | undefined;
  /** Give up waiting after this many seconds; undefined waits for ever. */
  readonly timeout: number | undefined;
  readonly grace: number;
  readonly permits: number | undefined;
  readonly value: string | undefined;
  /** `baton dashboard --port`: 0 or undefined picks a free port. */
  readonly port: number | undefined;
  readonly json: boolean;
  readonly verbose: boolean;
  /** The program and its arguments, for the holding commands. */
  readonly program: readonly string[];
}

export type Parsed =
  | { readonly kind: 'help'; readonly command: CommandName | undefined }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly invocation: Invocation };

function isCommand(word: string): word is CommandName {
  return (COMMANDS as readonly string[]).includes(word);
}

/** Parses `argv` (without node and script). Throws a usage CliError for bad arguments. */
export function parseArgs(argv: readonly string[]): Parsed {
  const [first, ...rest] = argv;
  if (first === undefined) throw usageError(`missing command: expected one of ${COMMANDS.join(', ')}`, '');
  if (first === '--help' || first === '-h') return { kind: 'help', command: undefined };
  if (first === '--version' || first === '-V') return { kind: 'version' };
  if (first === 'help') {
    const topic = rest[0];
    if (topic === undefined) return { kind: 'help', command: undefined };
    if (!isCommand(topic)) throw usageError(`unknown command ${JSON.stringify(topic)}: expected one of ${COMMANDS.join(', ')}`, '');
    return { kind: 'help', command: topic };
  }
  if (!isCommand(first)) {
    const hint = first.startsWith('-') ? `unknown option ${first}` : `unknown command ${JSON.stringify(first)}`;
    throw usageError(`${hint}: expected one of ${COMMANDS.join(', ')}`, '');
  }
  return parseCommand(first, rest);
}

function parseCommand(command: CommandName, args: readonly string[]): Parsed {
  const accepted = ACCEPTED[command];
  const holding = HOLDING_COMMANDS.includes(command);
  const values = new Map<OptionName, string>();
  const flags = new Set<OptionName>();
  let name: string | undefined;
  let program: string[] = [];
  let sawSeparator = false;
  const where = `baton ${command}`;

  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      sawSeparator = true;
      program = args.slice(i + 1);
      break;
    }
    if (arg.startsWith('-') && arg !== '-') {
      const { option, inline } = lookUpOption(arg, command);
      if (!accepted.includes(option)) {
        throw usageError(`${where} does not take --${option}: it accepts ${accepted.map((o) => `--${o}`).join(', ')}`, command);
      }
      const spec = OPTIONS[option];
      if (!spec.takesValue) {
        if (inline !== undefined) throw usageError(`--${option} takes no value (got --${option}=${inline})`, command);
        flags.add(option);
        continue;
      }
      let value = inline;
      if (value === undefined) {
        const next = args[i + 1];
        if (next === undefined || next === '--') throw usageError(`--${option} needs a value: --${option} ${spec.valueName}`, command);
        value = next;
        i++;
      }
      values.set(option, value);
      continue;
    }
    if (name === undefined) {
      name = arg;
      continue;
    }
    if (holding) {
      program = args.slice(i);
      break;
    }
    throw usageError(`unexpected argument ${JSON.stringify(arg)}: ${where} takes one NAME`, command);
  }

  if (flags.has('help')) return { kind: 'help', command };
  if (name === undefined && NAME_OPTIONAL.includes(command)) name = '';
  if (name === undefined) throw usageError(`missing NAME: ${where} NAME${holding ? ' -- CMD [ARGS...]' : ''}`, command);
  if (!holding && sawSeparator) throw usageError(`${where} runs no command, so it takes nothing after --`, command);
  if (holding && program.length === 0) {
    throw usageError(`missing the command to run: ${where} ${name} -- CMD [ARGS...]`, command);
  }
  if (command === 'semaphore' && !values.has('permits')) {
    throw usageError('missing --permits N: how many may hold the semaphore at once (every user of the name must agree)', command);
  }

  return {
    kind: 'run',
    invocation: {
      command,
      name,
      backend: values.get('backend'),
      ttl: seconds(values.get('ttl'), 'ttl', command, { min: 1, integer: true }),
      timeout: seconds(values.get('timeout'), 'timeout', command, { min: 0, integer: false }),
      grace: seconds(values.get('grace'), 'grace', command, { min: 0, integer: false }) ?? DEFAULT_GRACE_SECONDS,
      permits: count(values.get('permits'), command),
      value: values.get('value'),
      port: port(values.get('port'), command),
      json: flags.has('json'),
      verbose: flags.has('verbose'),
      program,
    },
  };
}

function lookUpOption(arg: string, command: CommandName): { option: OptionName; inline: string | undefined } {
  if (arg.startsWith('--')) {
    const eq = arg.indexOf('=');
    const word = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if (word in OPTIONS) return { option: word as OptionName, inline };
    throw usageError(`unknown option --${word} for baton ${command}: it accepts ${ACCEPTED[command].map((o) => `--${o}`).join(', ')}`, command);
  }
  const short = arg.slice(1);
  const found = (Object.keys(OPTIONS) as OptionName[]).find((option) => OPTIONS[option].short === short);
  if (found) return { option: found, inline: undefined };
  throw usageError(`unknown option ${arg} for baton ${command}: it accepts ${ACCEPTED[command].map((o) => `--${o}`).join(', ')}`, command);
}

/** Largest number of seconds accepted: what a timer can wait (about 24.8 days). */
const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

function seconds(
  text: string | undefined,
  option: OptionName,
  command: CommandName,
  rule: { min: number; integer: boolean },
): number | undefined {
  if (text === undefined) return undefined;
  const number = /^\s*$/.test(text) ? Number.NaN : Number(text);
  const kind = rule.integer ? 'a whole number of seconds' : 'a number of seconds';
  if (!Number.isFinite(number) || number < rule.min || number > MAX_SECONDS || (rule.integer && !Number.isInteger(number))) {
    throw usageError(`invalid --${option} ${JSON.stringify(text)}: expected ${kind} from ${rule.min} to ${MAX_SECONDS}`, command);
  }
  return number;
}

function port(text: string | undefined, command: CommandName): number | undefined {
  if (text === undefined) return undefined;
  const number = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(number) || number > 65535) {
    throw usageError(`invalid --port ${JSON.stringify(text)}: expected a whole number from 0 to 65535 (0 picks a free port)`, command);
  }
  return number;
}

function count(text: string | undefined, command: CommandName): number | undefined {
  if (text === undefined) return undefined;
  const number = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(number) || number < 1 || number > 1_000_000) {
    throw usageError(`invalid --permits ${JSON.stringify(text)}: expected a whole number from 1 to 1000000`, command);
  }
  return number;
}
