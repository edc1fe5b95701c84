/**
 * What every bench part takes and returns, and the child-process entry that runs one part.
 *
 * Each part runs in its own process (`node bench/lib/part.ts NAME OPTIONS_JSON`), so memory and CPU figures are
 * its own, and parts that only wait on real time can run beside others.
 */

/** Options every part understands. */
export interface PartOptions {
  /** Tiny inputs and short durations: for the smoke test. Figures are not meaningful. */
  quick: boolean;
  /** Length of the real-time memory run, minutes (`--realtime-minutes`); default 60, or 2 with `quick`. */
  realtimeMinutes?: number;
}

/** What a part reports. Figure keys are the bench's public JSON keys. */
export interface PartResult {
  figures: Record<string, number>;
  details: Record<string, unknown>;
  notes: string[];
}

/** The parts, by name, with their modules. */
export const PARTS = {
  'audio-path': () => import('../parts/audio-path.ts'),
  live: () => import('../parts/live.ts'),
  'long-meeting': () => import('../parts/long-meeting.ts'),
  billing: () => import('../parts/billing.ts'),
  translation: () => import('../parts/translation.ts'),
  speakers: () => import('../parts/speakers.ts'),
  web: () => import('../parts/web.ts'),
  'replay-memory': () => import('../parts/replay-memory.ts'),
  'bot-path': () => import('../parts/bot-path.ts'),
  'realtime-memory': () => import('../parts/realtime-memory.ts'),
} as const;

/** A part's name. */
export type PartName = keyof typeof PARTS;

/** Runs a part in this process. */
export async function runPart(name: PartName, options: PartOptions): Promise<PartResult> {
  const module = await PARTS[name]();
  return module.run(options);
}

// Child-process entry: run the part named on the command line and send the result to the parent.
if (import.meta.main) {
  const name = process.argv[2] as PartName;
  const options = JSON.parse(process.argv[3] ?? '{}') as PartOptions;
  try {
    const result = await runPart(name, options);
    process.send?.({ type: 'result', result });
  } catch (error) {
    process.send?.({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
  process.disconnect?.();
}
