/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, `.cpuprofile` JSON) over a time window: self time by function
 * and by group (libopus decode, DAVE decrypt, transport decrypt, ws/TLS, Parley's own src/**, GC, …).
 *
 * Weights: each sample counts once. On a loaded machine the sampler thread is often late (intervals from 1 ms to
 * hundreds), so charging each sample the time until the next one would hand a stall to whatever ran before it;
 * counting samples gives each group's share of the busy (non-idle) samples, and {@link summarize} turns shares into
 * milliseconds by multiplying with the CPU time the process measured itself over the same window. A sample
 * is grouped by its innermost frame that belongs to a package, to Parley, or to the WebAssembly decoder; frames of
 * Node's own JavaScript (`node:…`) and native functions (empty url) are charged to the caller that asked for the
 * work, so `crypto`'s `decipher.update` under @discordjs/voice's packet decryption counts as transport decryption.
 * Where no such frame is on the stack, the leaf's own file decides (timers, streams, sockets: "Node runtime").
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function or group over the window. */
export interface ProfileEntry {
  name: string;
  group: string;
  ms: number;
  /** Share of the window's busy (non-idle) samples, 0–1. */
  share: number;
  samples: number;
}

/** The window's profile in figures. */
export interface ProfileSummary {
  file: string;
  windowMs: number;
  /** Samples in the window that were not idle. */
  busySamples: number;
  /** The process's measured CPU time over the window, ms, which the shares divide. */
  cpuMs: number;
  groups: ProfileEntry[];
  functions: ProfileEntry[];
}

/** Short file name of a frame's url: `pkg/…/file.js` for packages, `src/…` for Parley, `node:…` as is. */
export function shortUrl(url: string): string {
  if (url === '') return '(native)';
  if (url.startsWith('node:') || url.startsWith('wasm://')) return url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const src = url.lastIndexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  const bench = url.lastIndexOf('/bench/');
  if (bench >= 0) return url.slice(bench + 1);
  return url;
}

const classLines = new Map<string, Array<{ line: number; name: string }>>();
/** The bundled class a line of a package's dist file belongs to (`var Name = class …` declarations), or ''. */
function classAt(url: string, line: number): string {
  let classes = classLines.get(url);
  if (classes === undefined) {
    classes = [];
    try {
      readFileSync(fileURLToPath(url), 'utf8')
        .split('\n')
        .forEach((text, i) => {
          const match = /^var (\w+) = class\b/.exec(text);
          if (match?.[1] !== undefined) classes?.push({ line: i, name: match[1] });
        });
    } catch {
      // not a readable file: no classes
    }
    classLines.set(url, classes);
  }
  let name = '';
  for (const c of classes) if (c.line <= line) name = c.name;
  return name;
}

/** The group of a frame that decides one (see the module comment), or undefined to look further up the stack. */
function groupOf(frame: CallFrame): string | undefined {
  const { functionName: fn, url } = frame;
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'V8/Node runtime (program)';
  if (url.startsWith('wasm://') || url.includes('/opus-decoder/') || url.includes('/@wasm-audio-decoders/')) return 'libopus decode (opus-decoder, WebAssembly)';
  if (url.includes('/@snazzah/davey')) return 'DAVE decrypt (@snazzah/davey)';
  if (url.includes('/@discordjs/voice/')) {
    const owner = classAt(url, frame.lineNumber);
    if (owner === 'DAVESession') return 'DAVE decrypt (@discordjs/voice DAVESession, @snazzah/davey)';
    if (owner === 'VoiceReceiver' && (fn === 'decrypt' || fn === 'parsePacket')) return 'transport decrypt (@discordjs/voice, node:crypto AES-GCM)';
    return '@discordjs/voice other (UDP receive, SSRC map, receive streams)';
  }
  if (url.includes('/node_modules/ws/')) return 'ws + TLS (AssemblyAI, voice gateway)';
  if (url.includes('/node_modules/pino') || url.includes('/node_modules/sonic-boom') || url.includes('/src/log.ts')) return 'logging (pino)';
  if (/\/node_modules\/(discord\.js|@discordjs\/(ws|rest|collection|util|formatters|builders)|undici|@sapphire)/.test(url)) return 'discord.js (gateway, REST)';
  if (url.includes('/node_modules/')) return `other packages (${shortUrl(url).split('/')[0] ?? ''})`;
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src !== null && !url.includes('/node_modules/')) return `Parley src/${src[1]}/**`;
  if (/\/src\/[^/]+\.ts$/.test(url)) return 'Parley src/*.ts';
  return undefined;
}

/** Group for a stack with no deciding frame: by the leaf's own file. */
function fallbackGroup(leaf: CallFrame): string {
  const { url, functionName: fn } = leaf;
  if (fn === '(idle)') return '(idle)';
  if (url.startsWith('node:_tls') || url.startsWith('node:tls') || fn === 'SSL_read' || url.includes('tls')) return 'ws + TLS (AssemblyAI, voice gateway)';
  if (url.startsWith('node:dgram') || url.startsWith('node:internal/dgram')) return 'transport: UDP receive (node:dgram)';
  if (url.startsWith('node:')) return 'Node runtime (timers, streams, net, events)';
  return '(native, no JS caller)';
}

/**
 * Reads the newest `.cpuprofile` in `dir` and summarises it between two `process.hrtime` instants, µs, over which
 * the process measured `cpuMs` of CPU time.
 */
export async function summarizeProfile(dir: string, fromUs: number, toUs: number, cpuMs: number): Promise<ProfileSummary> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  const file = files.at(-1);
  if (file === undefined) throw new Error(`bench: no .cpuprofile in ${dir}`);
  const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
  return { file: join(dir, file), ...summarize(profile, fromUs, toUs, cpuMs) };
}

/** The summary of a parsed profile over [fromUs, toUs] (the profile's own clock); `cpuMs` as measured over it. */
export function summarize(profile: CpuProfile, fromUs: number, toUs: number, cpuMs: number): Omit<ProfileSummary, 'file'> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const groupCache = new Map<number, string>();
  const groupFor = (id: number): string => {
    const cached = groupCache.get(id);
    if (cached !== undefined) return cached;
    let group: string | undefined;
    for (let at: number | undefined = id; at !== undefined && group === undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (node !== undefined) group = groupOf(node.callFrame);
    }
    const leaf = byId.get(id)?.callFrame;
    group ??= leaf === undefined ? '(unknown)' : fallbackGroup(leaf);
    groupCache.set(id, group);
    return group;
  };
  const groups = new Map<string, number>();
  const functions = new Map<string, { group: string; count: number }>();
  let t = profile.startTime;
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t >= toUs) continue;
    const id = profile.samples[i];
    if (id === undefined) continue;
    const group = groupFor(id);
    if (group === '(idle)') continue;
    busy++;
    groups.set(group, (groups.get(group) ?? 0) + 1);
    const frame = byId.get(id)?.callFrame;
    const name = frame === undefined ? '(unknown)' : `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`;
    const key = `${name}\u0000${group}`;
    const entry = functions.get(key) ?? { group, count: 0 };
    entry.count++;
    functions.set(key, entry);
  }
  const entry = (name: string, group: string, count: number): ProfileEntry => ({ name, group, samples: count, share: busy > 0 ? count / busy : 0, ms: busy > 0 ? (cpuMs * count) / busy : 0 });
  return {
    windowMs: (toUs - fromUs) / 1000,
    busySamples: busy,
    cpuMs,
    groups: [...groups.entries()].map(([name, count]) => entry(name, name, count)).sort((a, b) => b.samples - a.samples),
    functions: [...functions.entries()]
      .map(([key, e]) => entry(key.split('\u0000')[0] ?? key, e.group, e.count))
      .sort((a, b) => b.samples - a.samples)
      .slice(0, 40),
  };
}

/** Markdown tables of a summary: groups, then the top functions; ms per speaker-second of the window. */
export function renderProfile(summary: ProfileSummary, speakers: number, topFunctions = 15): string {
  const perSpeakerSecond = (ms: number) => (ms / (speakers * (summary.windowMs / 1000))).toFixed(2);
  const pct = (share: number) => `${(share * 100).toFixed(1)} %`;
  const lines = [
    `CPU ${summary.cpuMs.toFixed(0)} ms over ${(summary.windowMs / 1000).toFixed(1)} s, ${speakers} speakers (${perSpeakerSecond(summary.cpuMs)} ms per speaker-second); ${summary.busySamples} busy samples`,
    '',
    '| group | share of samples | ms per speaker-second |',
    '|---|---:|---:|',
    ...summary.groups.map((g) => `| ${g.name} | ${pct(g.share)} | ${perSpeakerSecond(g.ms)} |`),
    '',
    '| function (self) | file | group | share |',
    '|---|---|---|---:|',
    ...summary.functions.slice(0, topFunctions).map((f) => {
      const [fn, ...file] = f.name.split(' ');
      return `| \`${fn}\` | ${file.join(' ')} | ${f.group} | ${pct(f.share)} |`;
    }),
  ];
  return lines.join('\n');
}

// `node bench/lib/cpu-profile.ts FILE.cpuprofile FROM_US TO_US CPU_MS SPEAKERS`: the tables of a saved profile.
if (import.meta.main) {
  const [file, from, to, cpu, speakers] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: cpu-profile.ts FILE FROM_US TO_US CPU_MS SPEAKERS');
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  process.stdout.write(`${renderProfile({ file, ...summarize(profile, Number(from), Number(to), Number(cpu)) }, Number(speakers))}\n`);
}
