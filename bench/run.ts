/**
 * `npm run bench` — Parley's performance figures, measured against local servers only, printed as a table.
 *
 *   npm run bench                    # everything: about 8 minutes on a 2-core machine, and the real-time memory run's hour beside them
 *   npm run bench -- --json out.json # also write the figures (same keys as the table)
 *   npm run bench -- --only live,billing
 *   npm run bench -- --quick         # tiny inputs, seconds: checks the bench runs; figures mean nothing
 *   npm run bench -- --only realtime-memory --realtime-minutes 60   # the real-time memory run (default 60 min)
 *
 * Each part runs in its own child process (bench/lib/part.ts) with its local servers in another
 * (bench/lib/server-host.ts), so CPU and memory figures are Parley's own. CPU-sensitive parts run alone; the
 * translation part, which only waits on the clock, runs beside the accelerated ones. Exit code 0 when every part
 * ran (whatever the figures), 1 when a part failed or timed out, 2 on bad usage. See bench/README.md.
 */
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { PARTS, type PartName, type PartOptions, type PartResult } from './lib/part.ts';
import { ROWS, renderTable, verdict } from './lib/report.ts';
import { round } from './lib/stats.ts';

/** Wall-time limit per part, ms: a stuck part is killed and reported, and the rest still run. */
const LIMITS: Record<PartName, number> = {
  'audio-path': 120_000,
  live: 120_000,
  'long-meeting': 180_000,
  billing: 300_000, // five session policies × three conversations, handshakes at wall pace
  translation: 150_000,
  speakers: 120_000,
  web: 120_000,
  'replay-memory': 420_000,
  'bot-path': 300_000,
  // Replaced by the run's own length plus 10 minutes (see runChild).
  'realtime-memory': 70 * 60_000,
};

const PART_TITLES: Record<PartName, string> = {
  'audio-path': '1. audio path throughput',
  live: '2–3. speakers per core, added latency',
  'long-meeting': '4. 3-hour meeting memory',
  billing: '5. billed seconds over speech',
  translation: '6. LLM requests',
  speakers: '7. concurrent speakers: memory and CPU per speaker',
  web: '8. caption page latency',
  'replay-memory': '9. replay of a 3-hour track: memory',
  'bot-path': '10. speakers per core through the whole bot',
  'realtime-memory': '11. real-time meeting with translation and recap: memory',
};

interface PartOutcome {
  name: PartName;
  seconds: number;
  result?: PartResult;
  error?: string;
}

const USAGE = `usage: npm run bench -- [--json FILE] [--only ${Object.keys(PARTS).join(',')}] [--quick] [--realtime-minutes N]\n`;

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

/** Runs one part in a child process. */
function runChild(name: PartName, options: PartOptions): Promise<PartOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = fork(new URL('./lib/part.ts', import.meta.url), [name, JSON.stringify(options)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: name === 'long-meeting' || name === 'speakers' || name === 'replay-memory' || name === 'realtime-memory' ? ['--expose-gc'] : [],
    });
    let outcome: PartOutcome | undefined;
    const limit = name === 'realtime-memory' && options.realtimeMinutes !== undefined ? options.realtimeMinutes * 60_000 + 600_000 : LIMITS[name];
    const timer = setTimeout(() => {
      outcome ??= { name, seconds: 0, error: `timed out after ${limit / 1000} s` };
      child.kill('SIGKILL');
    }, limit);
    child.on('message', (message: { type: string; result?: PartResult; message?: string }) => {
      if (message.type === 'result' && message.result !== undefined) outcome = { name, seconds: 0, result: message.result };
      else if (message.type === 'error') outcome = { name, seconds: 0, error: message.message ?? 'failed' };
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const seconds = round((performance.now() - started) / 1000, 1);
      resolve({ ...(outcome ?? { name, error: `exited with ${signal ?? code} before reporting` }), name, seconds });
    });
  });
}

function machine(): Record<string, string | number> {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line !== undefined) cpuModel = line.split(':').slice(1).join(':').trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  return { nproc: cpus().length, cpuModel, node: process.version, platform: `${process.platform}-${process.arch}`, memoryGb: round(totalmem() / 2 ** 30, 1) };
}

const { values } = (() => {
  try {
    return parseArgs({
      options: { json: { type: 'string' }, only: { type: 'string' }, quick: { type: 'boolean', default: false }, 'realtime-minutes': { type: 'string' }, help: { type: 'boolean', default: false } },
    });
  } catch (error) {
    return usage((error as Error).message);
  }
})();
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const selected = (values.only?.split(',').map((s) => s.trim()).filter(Boolean) ?? Object.keys(PARTS)) as PartName[];
for (const name of selected) if (!(name in PARTS)) usage(`unknown part ${name}`);
const realtimeMinutes = values['realtime-minutes'] === undefined ? (values.quick ? 2 : 60) : Number(values['realtime-minutes']);
if (!Number.isFinite(realtimeMinutes) || realtimeMinutes <= 0 || realtimeMinutes > 24 * 60) usage('--realtime-minutes takes a number of minutes above 0 (at most 1440)');
const options: PartOptions = { quick: values.quick, realtimeMinutes };
const wanted = (name: PartName) => selected.includes(name);

const info = machine();
process.stderr.write(`Parley bench on ${info['nproc']} × ${info['cpuModel']}, Node ${info['node']}${options.quick ? ' (quick: figures are not meaningful)' : ''}\n`);
const started = performance.now();
const outcomes: PartOutcome[] = [];
const announce = (name: PartName) => process.stderr.write(`  running ${PART_TITLES[name]}…\n`);
const record = (outcome: PartOutcome) => {
  outcomes.push(outcome);
  process.stderr.write(`  ${PART_TITLES[outcome.name]}: ${outcome.error === undefined ? 'done' : `FAILED (${outcome.error.split('\n')[0]})`} in ${outcome.seconds} s\n`);
};

// CPU- and latency-sensitive parts run alone, one after the other.
for (const name of ['audio-path', 'live', 'speakers', 'web', 'bot-path'] as const) {
  if (!wanted(name)) continue;
  announce(name);
  record(await runChild(name, options));
}
// The translation part waits on wall time (its rate limiter); it runs beside the accelerated parts. So does the
// real-time memory run (light on CPU; its figures are memory, which the other processes do not touch).
const translation = wanted('translation') ? (announce('translation'), runChild('translation', options)) : undefined;
const realtime = wanted('realtime-memory') ? (announce('realtime-memory'), runChild('realtime-memory', options)) : undefined;
for (const name of ['long-meeting', 'billing', 'replay-memory'] as const) {
  if (!wanted(name)) continue;
  announce(name);
  record(await runChild(name, options));
}
if (translation !== undefined) record(await translation);
if (realtime !== undefined) record(await realtime);

const figures: Record<string, number> = {};
const details: Record<string, unknown> = {};
for (const outcome of outcomes) {
  if (outcome.result !== undefined) {
    // NaN travels over IPC (JSON) as null.
    for (const [key, value] of Object.entries(outcome.result.figures)) figures[key] = typeof value === 'number' ? value : Number.NaN;
    details[outcome.name] = { seconds: outcome.seconds, ...outcome.result.details };
  } else {
    details[outcome.name] = { seconds: outcome.seconds, error: outcome.error };
  }
}
const totalSeconds = round((performance.now() - started) / 1000, 1);

process.stdout.write(`\n${renderTable(figures, selected)}\n\n`);
const failed = ROWS.filter((row) => !row.sub && verdict(row, figures) === 'FAIL').map((row) => row.key);
const errors = outcomes.filter((o) => o.error !== undefined);
process.stdout.write(
  `Machine: ${info['nproc']} × ${info['cpuModel']}, ${info['memoryGb']} GB, Node ${info['node']}. Total ${totalSeconds} s.` +
    (failed.length > 0 ? ` Short of target: ${failed.join(', ')}.` : ' Every target met.') +
    (errors.length > 0 ? ` Parts that failed: ${errors.map((e) => e.name).join(', ')}.` : '') +
    '\n',
);

if (values.json !== undefined) {
  const targets = Object.fromEntries(ROWS.filter((row) => figures[row.key] !== undefined).map((row) => [row.key, { target: row.target?.text ?? null, result: verdict(row, figures) }]));
  const document = { generatedAt: new Date().toISOString(), quick: options.quick, machine: info, totalSeconds, figures, targets, details };
  writeFileSync(values.json, `${JSON.stringify(document, null, 2)}\n`);
  process.stderr.write(`Figures written to ${values.json}\n`);
}
process.exit(errors.length > 0 ? 1 : 0);
