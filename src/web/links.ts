/**
 * Personal caption-page links: `PUBLIC_URL/captions/<token>`, where the token is an HMAC-SHA256-signed claim
 * naming one guild, one meeting and the member it was issued to. A token opens nothing else: the server checks the
 * signature, that the meeting is the guild's, and that the link has not expired.
 *
 * Expiry: a link works while its meeting runs and for {@link LINK_TTL_AFTER_END_MS} (2 hours) after it ends, so
 * readers can scroll back through the end of the meeting; and never longer than {@link LINK_MAX_AGE_MS} (24 hours)
 * after it was issued.
 *
 * Tokens are capabilities: they are never logged (the HTTP server logs no URL) and pages send no `Referer`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** How long a link keeps working after its meeting ended, ms. */
export const LINK_TTL_AFTER_END_MS = 2 * 60 * 60 * 1000;
/** How long after issue a link stops working whatever the meeting does, ms. */
export const LINK_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** Name of the generated secret in `DATA_DIR`. */
export const SECRET_FILE = 'web-link-secret';

/** What a link grants. */
export interface LinkClaim {
  guildId: string;
  meetingId: number;
  /** The member it was issued to (for the record; any holder of the link can read the meeting). */
  userId: string;
  /** Wall-clock ms after which the link is refused, whatever the meeting does. */
  expiresAt: number;
}

/** Signs and checks caption-page tokens with one secret. */
export class LinkSigner {
  readonly #secret: Buffer;

  /** @param secret - at least 32 bytes of key material */
  constructor(secret: Buffer) {
    if (secret.length < 32) throw new Error('the caption link secret must be at least 32 bytes');
    this.#secret = secret;
  }

  /** A token for `claim`: base64url(JSON) `.` base64url(HMAC-SHA256). */
  sign(claim: LinkClaim): string {
    const body = Buffer.from(JSON.stringify({ g: claim.guildId, m: claim.meetingId, u: claim.userId, e: claim.expiresAt })).toString('base64url');
    return `${body}.${this.#mac(body)}`;
  }

  /** The claim of a well-formed, correctly signed token (expiry is the caller's check), or null. */
  verify(token: string): LinkClaim | null {
    if (token.length > 512) return null;
    const [body, mac, extra] = token.split('.');
    if (body === undefined || mac === undefined || extra !== undefined) return null;
    const expected = Buffer.from(this.#mac(body));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    try {
      const raw = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
      const { g, m, u, e } = raw;
      if (typeof g !== 'string' || typeof m !== 'number' || typeof u !== 'string' || typeof e !== 'number') return null;
      return { guildId: g, meetingId: m, userId: u, expiresAt: e };
    } catch {
      return null;
    }
  }

  #mac(body: string): string {
    return createHmac('sha256', this.#secret).update(body).digest('base64url');
  }
}

/**
 * The link secret: `configured` (`WEB_LINK_SECRET`) when set, else the one stored in `DATA_DIR/web-link-secret`,
 * generated (32 random bytes, file mode 0600) on first use so links survive a restart. Synchronous: it runs once,
 * at start-up, beside opening the database.
 *
 * @throws if the data directory cannot be read or written.
 */
export function loadLinkSecret(dataDir: string, configured: string | undefined): Buffer {
  if (configured !== undefined) return Buffer.from(configured, 'utf8');
  const path = join(dataDir, SECRET_FILE);
  try {
    const stored = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64url');
    if (stored.length >= 32) return stored;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secret = randomBytes(32);
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(path, `${secret.toString('base64url')}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return secret;
}

/** Issues personal caption-page links. */
export class CaptionLinks {
  readonly #signer: LinkSigner;
  readonly #publicUrl: string;
  readonly #now: () => number;

  /** @param publicUrl - base of the links, without a trailing slash */
  constructor(signer: LinkSigner, publicUrl: string, now: () => number = Date.now) {
    this.#signer = signer;
    this.#publicUrl = publicUrl;
    this.#now = now;
  }

  /** The page URL for a member and a guild's meeting; it expires as the module header says. */
  linkFor(guildId: string, meetingId: number, userId: string): string {
    const token = this.#signer.sign({ guildId, meetingId, userId, expiresAt: this.#now() + LINK_MAX_AGE_MS });
    return `${this.#publicUrl}/captions/${guildId}/${token}`;
  }
}
