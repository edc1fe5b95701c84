/**
 * Closing a track that Parley stopped writing without closing (the process was killed mid-meeting): the file
 * ends after its last page written, perhaps inside it, and without the end-of-stream page (RFC 3533 §6). Players
 * warn about such a file ("EOS not set", opusdec) and some refuse it; the repair cuts a torn last page off and
 * flags the last whole page end of stream (its granule position, the samples written, stays the track's end). Only page headers are read (one read per page, at most `27 + 255` bytes), and the last page once for its
 * CRC, so memory does not depend on the track's length. A file whose last whole page fails its CRC, or with more
 * than one page's worth of bytes after it, is damaged some other way than by a cut, and is left as it is.
 */
import { open } from 'node:fs/promises';
import { PAGE_FLAGS, oggCrc32 } from './ogg-opus.ts';

/** Bytes of an Ogg page header before its lacing values (RFC 3533 §6). */
const PAGE_HEADER_BYTES = 27;
/** The largest Ogg page, bytes (RFC 3533 §6): more than this after the last whole page is not a cut. */
const MAX_PAGE_BYTES = PAGE_HEADER_BYTES + 255 + 255 * 255;

/** What {@link closeCutShortTrack} did. */
export interface TrackRepair {
  /** Bytes cut off the end: a torn last page. */
  droppedBytes: number;
  /** The last whole page was flagged end of stream (false: it already was, or the track holds no whole page). */
  closed: boolean;
}

/** One whole page found by the scan. */
interface PageAt {
  at: number;
  size: number;
  flags: number;
}

/**
 * Closes a track cut short in place: truncates it after its last whole page (whose CRC matches) and, unless that
 * page already ends the stream, sets its end-of-stream flag and its CRC again.
 *
 * @param path - the `.ogg` file
 * @returns what was done
 * @throws the file system's error when the file cannot be read or written
 */
export async function closeCutShortTrack(path: string): Promise<TrackRepair> {
  const file = await open(path, 'r+');
  try {
    const { size } = await file.stat();
    const header = Buffer.alloc(PAGE_HEADER_BYTES + 255);
    let last: PageAt | undefined;
    for (let at = 0; at < size; ) {
      const { bytesRead } = await file.read(header, 0, header.length, at);
      if (bytesRead < PAGE_HEADER_BYTES || header.toString('latin1', 0, 4) !== 'OggS') break;
      const segments = header[PAGE_HEADER_BYTES - 1]!;
      if (bytesRead < PAGE_HEADER_BYTES + segments) break;
      let body = 0;
      for (let i = 0; i < segments; i++) body += header[PAGE_HEADER_BYTES + i]!;
      const pageSize = PAGE_HEADER_BYTES + segments + body;
      if (at + pageSize > size) break;
      last = { at, size: pageSize, flags: header[5]! };
      at += pageSize;
    }
    // Nothing whole to close after, or damage other than a cut: left as it is (replay reads up to its whole pages).
    const page = last === undefined ? undefined : await checkedPage(file, last);
    if (last === undefined || page === undefined) return { droppedBytes: 0, closed: false };
    const end = last.at + last.size;
    const droppedBytes = size - end;
    if (droppedBytes > MAX_PAGE_BYTES) return { droppedBytes: 0, closed: false };
    if (droppedBytes > 0) await file.truncate(end);
    if ((last.flags & PAGE_FLAGS.endOfStream) !== 0) return { droppedBytes, closed: false };
    page[5] = last.flags | PAGE_FLAGS.endOfStream;
    page.writeUInt32LE(0, 22);
    page.writeUInt32LE(oggCrc32(page), 22);
    await file.write(page, 0, page.length, last.at);
    return { droppedBytes, closed: true };
  } finally {
    await file.close();
  }
}

/** A page's bytes when its stored CRC matches them (RFC 3533 §6: computed with the CRC field zeroed), else undefined. */
async function checkedPage(file: Awaited<ReturnType<typeof open>>, page: PageAt): Promise<Buffer | undefined> {
  const bytes = Buffer.alloc(page.size);
  await file.read(bytes, 0, page.size, page.at);
  const stored = bytes.readUInt32LE(22);
  bytes.writeUInt32LE(0, 22);
  if (oggCrc32(bytes) !== stored) return undefined;
  bytes.writeUInt32LE(stored, 22);
  return bytes;
}
