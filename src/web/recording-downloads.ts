/**
 * Recording downloads on the caption page's server, for tracks too large to attach in Discord:
 * `GET /recordings/:guildId/:token/` lists a meeting's files, `GET /recordings/:guildId/:token/:file` sends one.
 *
 * A token names one guild and one meeting, is signed (HMAC-SHA256) with a key derived from the caption links'
 * secret for this purpose only (so a caption-page token never opens a recording, nor the reverse), and expires
 * {@link RECORDING_LINK_TTL_MS} after it was issued. The link is posted in the meeting's caption channel: anyone who
 * can read that channel can download the recording, as they could an attachment there. Only file names made of
 * `A–Z a–z 0–9 _ . -` that are in the meeting's folder are served, so no path leaves it.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { LinkSigner, type LinkClaim } from './links.ts';

/** How long a recording link works after it was posted, ms (7 days). */
export const RECORDING_LINK_TTL_MS = 7 * 24 * 60 * 60 * 1000;

const SAFE_FILE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$/;

/** Signs and checks recording download tokens. */
export class RecordingLinks {
  readonly #signer: LinkSigner;
  readonly #publicUrl: string;
  readonly #now: () => number;

  /**
   * @param secret the caption links' secret; the key used here is HMAC-SHA256(secret, purpose).
   * @param publicUrl base of the links, without a trailing slash.
   * @param now wall-clock time in ms since the Unix epoch (default `Date.now`), for each link's expiry: it is
   *   stamped into the token and checked when the link is opened, so it must be the same kind of time across
   *   restarts (not a monotonic clock).
   */
  constructor(secret: Buffer, publicUrl: string, now: () => number = Date.now) {
    this.#signer = new LinkSigner(createHmac('sha256', secret).update('parley recording downloads').digest());
    this.#publicUrl = publicUrl;
    this.#now = now;
  }

  /** The download page of a meeting's recording, valid for {@link RECORDING_LINK_TTL_MS}. */
  linkFor(guildId: string, meetingId: number): string {
    const token = this.#signer.sign({ guildId, meetingId, userId: '', expiresAt: this.#now() + RECORDING_LINK_TTL_MS });
    return `${this.#publicUrl}/recordings/${guildId}/${token}/`;
  }

  /** The claim of a valid, unexpired token for `guildId`, or null. */
  check(token: string, guildId: string): LinkClaim | null {
    const claim = this.#signer.verify(token);
    if (claim === null || claim.guildId !== guildId || claim.expiresAt <= this.#now()) return null;
    return claim;
  }
}

/** What the download routes read. */
export interface RecordingDownloadsOptions {
  links: RecordingLinks;
  /** The files of a meeting's recording (names only); empty when it has none. */
  files: (guildId: string, meetingId: number) => Promise<string[]>;
  /** The folder of a meeting's recording. */
  dir: (guildId: string, meetingId: number) => string;
}

const NOT_VALID = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Link not valid</title></head>
<body><h1>This recording link is not valid</h1>
<p>It may have expired (recording links work for ${RECORDING_LINK_TTL_MS / 86_400_000} days), or the recording was deleted.</p>
</body></html>
`;

/** Adds the download routes to the caption page's server. */
export function registerRecordingDownloads(app: FastifyInstance, options: RecordingDownloadsOptions): void {
  const refuse = (reply: FastifyReply) => reply.code(403).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(NOT_VALID);
  const filesOf = async (guildId: string, token: string) => {
    const claim = options.links.check(token, guildId);
    if (claim === null) return null;
    const files = (await options.files(guildId, claim.meetingId)).filter((name) => SAFE_FILE.test(name));
    return files.length === 0 ? null : { claim, files };
  };

  app.get<{ Params: { guildId: string; token: string } }>('/recordings/:guildId/:token/', async (request, reply) => {
    const found = await filesOf(request.params.guildId, request.params.token);
    if (found === null) return refuse(reply);
    // File names are limited to SAFE_FILE's characters: nothing in them needs escaping in HTML.
    const items = found.files.map((name) => `<li><a href="./${name}" download>${name}</a></li>`).join('\n');
    const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Recording of meeting #${found.claim.meetingId}</title></head>
<body><h1>Recording of meeting #${found.claim.meetingId}</h1>
<p>One Ogg Opus file per speaker; README.txt says how to play them together or caption them again.</p>
<ul>
${items}
</ul>
</body></html>
`;
    return reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page);
  });

  app.get<{ Params: { guildId: string; token: string; file: string } }>('/recordings/:guildId/:token/:file', async (request, reply) => {
    const found = await filesOf(request.params.guildId, request.params.token);
    const file = request.params.file;
    if (found === null || !found.files.includes(file)) return refuse(reply);
    // @fastify/static sends it with its length, type and Range support (resumable: these are the files too big for Discord).
    return reply
      .header('cache-control', 'no-store')
      .header('content-disposition', `attachment; filename="${file}"`)
      .sendFile(file, options.dir(request.params.guildId, found.claim.meetingId), { cacheControl: false });
  });
}
