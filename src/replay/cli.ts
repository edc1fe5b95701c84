/**
 * `npm run replay -- [options] [NAME=]FILE…`: captions recordings through the live pipeline.
 *
 * Each FILE is one speaker starting at time 0 (WAV, FLAC or Ogg Opus). Exit codes: 0 success, 1 the run failed
 * (AssemblyAI refused us, a file could not be read or written), 2 bad usage or configuration.
 */
import 'dotenv/config';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { ConsoleSink } from '../captions/console-sink.ts';
import { createAssemblyAIProvider } from '../stt/provider.ts';
import { writeTranscriptFiles } from '../transcript/files.ts';
import { AudioFileError, openAudioFile } from './audio-file.ts';
import { discordOpusFrames } from './discord-opus.ts';
import { runReplay, type ReplayTrack } from './replay.ts';
import { deliveredOpusPackets, isParleyRecording } from './delivered-opus.ts';
import { createLlmClient } from '../llm/gateway-client.ts';
import { createRecap } from '../recap/recap.ts';
import { recapToMarkdown } from '../recap/render.ts';
import { CUSTOM_PROMPT_MAX_CHARS, DEFAULT_RECAP_TEMPLATE, isRecapTemplateId, RECAP_TEMPLATE_IDS, validateCustomPrompt, type RecapStyle, type RecapTemplateId } from '../recap/templates.ts';
import { parseLanguageList } from '../translation/languages.ts';
import { Translator } from '../translation/translator.ts';

const USAGE = `usage: npm run replay -- [--split-channels] [--speed X] [--out DIR] [--translate es,de] [--no-recap] [--recap-template NAME] [--recap-prompt FILE] [NAME=]FILE...
  FILE             WAV, FLAC or Ogg Opus; each file is one speaker starting at 0:00
  NAME=FILE        name the speaker (default: the file name)
  --split-channels each channel of a multichannel file is its own speaker (NAME-1, NAME-2, ...)
  --speed X        play X times faster than real time (local test servers only: AssemblyAI rejects audio sent faster than real time)
  --out DIR        write transcript.json, transcript.md, transcript.srt and transcript.vtt to DIR
  --translate L,L  translate each caption (ISO 639-1 codes) through the LLM Gateway; printed as "  ↳ es: ..."
  --no-recap       with --out, skip recap.md (made through the LLM Gateway by default)
  --recap-template NAME  recap.md in this template: ${RECAP_TEMPLATE_IDS.join(', ')} (default ${DEFAULT_RECAP_TEMPLATE})
  --recap-prompt FILE    add the instructions in FILE (at most ${CUSTOM_PROMPT_MAX_CHARS} characters) to the recap prompt`;

class UsageError extends Error {}

interface CliArgs {
  inputs: Array<{ name: string; path: string }>;
  splitChannels: boolean;
  speed: number;
  outDir: string | undefined;
  languages: string[];
  recap: boolean;
  recapTemplate: RecapTemplateId;
  /** Path of a file with custom recap instructions. */
  recapPromptFile: string | undefined;
}

function parseCli(argv: string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'split-channels': { type: 'boolean', default: false },
        speed: { type: 'string', default: '1' },
        out: { type: 'string' },
        translate: { type: 'string' },
        'no-recap': { type: 'boolean', default: false },
        'recap-template': { type: 'string', default: DEFAULT_RECAP_TEMPLATE },
        'recap-prompt': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const speed = Number(parsed.values.speed);
  if (!(speed > 0) || !Number.isFinite(speed)) throw new UsageError(`--speed must be a positive number, got "${parsed.values.speed}"`);
  if (parsed.positionals.length === 0) throw new UsageError('no input files');
  const inputs = parsed.positionals.map((arg) => {
    const eq = arg.indexOf('=');
    // A name is only split off when what precedes '=' has no path separator (so paths with '=' still work).
    if (eq > 0 && !arg.slice(0, eq).includes('/')) return { name: arg.slice(0, eq), path: arg.slice(eq + 1) };
    return { name: basename(arg, extname(arg)), path: arg };
  });
  let languages: string[] = [];
  if (parsed.values.translate !== undefined) {
    const result = parseLanguageList(parsed.values.translate);
    if (!result.ok) throw new UsageError(`--translate: ${result.error}`);
    languages = result.languages;
  }
  const recapTemplate = parsed.values['recap-template'];
  if (!isRecapTemplateId(recapTemplate)) throw new UsageError(`--recap-template must be one of ${RECAP_TEMPLATE_IDS.join(', ')}, got "${recapTemplate}"`);
  return {
    inputs,
    splitChannels: parsed.values['split-channels'],
    speed,
    outDir: parsed.values.out,
    languages,
    recap: !parsed.values['no-recap'],
    recapTemplate,
    recapPromptFile: parsed.values['recap-prompt'],
  };
}

/** The recap's template and custom instructions from the command line. @throws {UsageError} an unreadable or invalid prompt file. */
async function recapStyle(args: CliArgs): Promise<RecapStyle> {
  if (args.recapPromptFile === undefined) return { template: args.recapTemplate };
  let text: string;
  try {
    text = await readFile(args.recapPromptFile, 'utf8');
  } catch (error) {
    throw new UsageError(`--recap-prompt: cannot read "${args.recapPromptFile}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const checked = validateCustomPrompt(text);
  if (!checked.ok) throw new UsageError(`--recap-prompt: ${checked.reason}`);
  return { template: args.recapTemplate, customPrompt: checked.prompt };
}

/**
 * Opens every input (header problems fail here, before anything plays) and makes each speaker's packet source.
 * Sources are lazy: each file is decoded and encoded as the replay plays it, except a track Parley recorded, whose
 * packets are sent as they were delivered (delivered-opus.ts). With --split-channels every channel
 * decodes the file on its own, so a channel that is silent for a long while never makes another's audio wait in
 * a buffer.
 */
async function openTracks(args: CliArgs): Promise<ReplayTrack[]> {
  const tracks: ReplayTrack[] = [];
  // A file cut short is replayed up to where it ends, and said once on stderr (each split channel reads it anew).
  const warned = new Set<string>();
  const onWarning = (message: string) => {
    if (warned.has(message)) return;
    warned.add(message);
    process.stderr.write(`warning: ${message}\n`);
  };
  for (const input of args.inputs) {
    const audio = await openAudioFile(input.path, { onWarning });
    const split = args.splitChannels && audio.channels > 1;
    if (!split && audio.format === 'Ogg Opus' && (await isParleyRecording(input.path))) {
      tracks.push({ speaker: { id: input.name, name: input.name }, packets: deliveredOpusPackets(input.path, onWarning) });
      continue;
    }
    const parts = split
      ? Array.from({ length: audio.channels }, (_, i) => ({ name: `${input.name}-${i + 1}`, channels: 1, blocks: () => oneChannel(audio.blocks(), i) }))
      : [{ name: input.name, channels: audio.channels, blocks: () => audio.blocks() }];
    for (const part of parts) {
      const packets = discordOpusFrames(part.blocks(), { sampleRate: audio.sampleRate, channels: part.channels });
      tracks.push({ speaker: { id: part.name, name: part.name }, packets });
    }
  }
  const names = new Set<string>();
  for (const track of tracks) {
    if (names.has(track.speaker.name)) throw new UsageError(`two speakers are named "${track.speaker.name}"; name them with NAME=FILE`);
    names.add(track.speaker.name);
  }
  return tracks;
}

async function* oneChannel(blocks: AsyncIterable<Float32Array[]>, index: number): AsyncGenerator<Float32Array[]> {
  for await (const block of blocks) yield [block[index]!];
}

async function main(argv: string[]): Promise<number> {
  const args = parseCli(argv);
  const config = loadConfig(process.env);
  // Replay's stdout is the captions; keep routine logs quiet unless LOG_LEVEL asks for them.
  const level = process.env.LOG_LEVEL === undefined ? 'warn' : config.logLevel;
  const logger = createLogger({ level, secrets: [config.stt.apiKey] });
  // Checked before any audio is sent: a bad prompt file should not cost a whole replay.
  const style = await recapStyle(args);
  const tracks = await openTracks(args);
  const consoleSink = new ConsoleSink(process.stdout, process.stderr, args.languages.length > 0);
  const llm = createLlmClient({ baseUrl: config.llm.baseUrl, apiKey: config.llm.apiKey, timeoutMs: config.llm.timeoutMs, logger });
  const translator =
    args.languages.length === 0
      ? undefined
      : new Translator({ client: llm, model: config.llm.translationModel, fallbackModels: config.llm.translationFallbackModels, logger });
  const provider = createAssemblyAIProvider(config.stt, logger);
  const result = await runReplay({
    tracks,
    provider,
    speed: args.speed,
    logger,
    sinks: [consoleSink],
    keyterms: config.stt.keyterms,
    idleCloseMs: () => provider.idleClose.currentMs(),
    maxTurnSilenceMs: config.stt.maxTurnSilenceMs,
    maxAudioAheadMs: args.speed > 1 ? null : 1_000,
    ...(translator === undefined
      ? {}
      : {
          translation: {
            translator,
            languages: args.languages,
            ...(config.llm.translationMode === 'in-stream' && { inStreamModel: config.llm.translationModel }),
            onTranslated: (translated) => consoleSink.printTranslated(translated),
          },
        }),
  });
  await translator?.close();
  if (result.fatal !== undefined) {
    process.stderr.write(`error: ${result.fatal.reason}\n`);
    return 1;
  }
  if (args.outDir !== undefined) {
    const title = `Transcript: ${tracks.map((t) => t.speaker.name).join(', ')}`;
    await writeTranscriptFiles(args.outDir, title, result.transcript);
    if (args.recap && result.transcript.turns.length > 0) {
      try {
        const recap = await createRecap(result.transcript, { client: llm, model: config.llm.recapModel, fallbackModels: config.llm.recapFallbackModels, style, logger });
        await writeFile(join(args.outDir, 'recap.md'), recapToMarkdown(recap, title));
      } catch (error) {
        // The transcript files are written; a failed recap is reported, not fatal.
        process.stderr.write(`warning: no recap.md: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n${USAGE}\n`);
      process.exit(2);
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof AudioFileError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
