// One-line structured logs on stderr. Callers pass facts, never credentials: there is no
// field for an Authorization header anywhere in this module's callers, by design.

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, off: 100 } as const;
type Level = keyof typeof LEVELS;

function levelFromEnv(): number {
  // RUST_LOG is read for compatibility with the reference service; it may be `info` or `crate=debug,info`.
  const raw = (process.env.LOG_LEVEL ?? process.env.RUST_LOG ?? 'info').toLowerCase();
  const word = raw.split(',').map((s) => s.split('=').pop() ?? '').find((s) => s in LEVELS) as Level | undefined;
  return LEVELS[word ?? 'info'];
}

let threshold = levelFromEnv();

export function setLogLevel(level: string): void {
  if (level in LEVELS) threshold = LEVELS[level as Level];
}

function write(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (LEVELS[level] < threshold) return;
  const line = { time: new Date().toISOString(), level, msg, ...fields };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};
