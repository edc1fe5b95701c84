/**
 * The whole Ogg pages of a stream of bytes, parsed by codec-parser as they are read. A recording cut short (the
 * recorder was killed, the disk filled, a copy was interrupted) can end inside a page: codec-parser hands the
 * torn remainder out at `flush()` as if it were a page, with its packets cut, or throws on a torn page header. So
 * a page is kept only when all of its bytes are there (RFC 3533 §6: 27 header bytes, as many lacing values as
 * the header counts, then the segments they add up to), and the bytes of a torn last page are reported instead.
 */
import CodecParser from 'codec-parser';

/** codec-parser's Ogg page, as much of it as replay reads; `H` is the codec's header. */
export interface OggPage<H> {
  pageSequenceNumber: number;
  streamSerialNumber: number;
  isLastPage: boolean;
  /** The page's bytes as read, header included. */
  rawData: Uint8Array;
  codecFrames: Array<{ data: Uint8Array; header: H }>;
}

/** Bytes of an Ogg page header before its lacing values (RFC 3533 §6). */
const PAGE_HEADER_BYTES = 27;
/** The largest Ogg page, bytes: a full header, 255 lacing values, 255 segments of 255 bytes (RFC 3533 §6). */
const MAX_PAGE_BYTES = PAGE_HEADER_BYTES + 255 + 255 * 255;

/** Whether `raw` holds a whole page: the length its header and lacing values promise. */
export function isWholePage(raw: Uint8Array): boolean {
  const segments = raw[PAGE_HEADER_BYTES - 1];
  if (segments === undefined || raw.length < PAGE_HEADER_BYTES + segments) return false;
  let body = 0;
  for (let i = 0; i < segments; i++) body += raw[PAGE_HEADER_BYTES + i]!;
  return raw.length === PAGE_HEADER_BYTES + segments + body;
}

/**
 * The pages of an Ogg stream, in file order. The last page is only known to be whole at the end of the bytes;
 * a torn one is left out, and `onTornEnd` is told how many bytes were dropped after the last whole page
 * (called at most once, only when some were).
 *
 * @param bytes - the file's bytes, in blocks (the caller bounds their size)
 * @param onTornEnd - told the bytes dropped at the end, > 0
 * @throws what `bytes` throws
 */
export async function* oggPages<H>(bytes: AsyncIterable<Uint8Array>, onTornEnd: (droppedBytes: number) => void): AsyncGenerator<OggPage<H>> {
  const parser = new CodecParser('audio/ogg');
  let read = 0;
  let kept = 0;
  // The last bytes read, at most one page: what is left after the whole pages is looked at in the end.
  let tail = Buffer.alloc(0);
  // codec-parser's typings say Iterator; its generators are iterable too.
  const pagesOf = (pages: Iterator<unknown>) => pages as unknown as Iterable<OggPage<H>>;
  for await (const block of bytes) {
    read += block.length;
    tail = Buffer.concat([tail, block]);
    if (tail.length > MAX_PAGE_BYTES) tail = tail.subarray(tail.length - MAX_PAGE_BYTES);
    for (const page of pagesOf(parser.parseChunk(block))) {
      kept += page.rawData.length;
      yield page;
    }
  }
  // What is left is the last page: whole, torn (yielded cut short), or a torn header (codec-parser throws).
  let rest: OggPage<H>[] = [];
  try {
    rest = [...pagesOf(parser.flush())];
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
  }
  for (const page of rest) {
    if (!isWholePage(page.rawData)) break;
    kept += page.rawData.length;
    yield page;
  }
  // codec-parser never hands out a last page that holds no packet, such as an empty end-of-stream page (legal,
  // RFC 3533 §6; libogg's flush and Parley's own tracks can end with one): read its header here.
  const remainder = read - kept;
  const last = remainder > 0 && remainder <= tail.length ? tail.subarray(tail.length - remainder) : undefined;
  if (last !== undefined && last.toString('latin1', 0, 4) === 'OggS' && isWholePage(last) && last[PAGE_HEADER_BYTES - 1] === 0) {
    kept += last.length;
    yield { pageSequenceNumber: last.readUInt32LE(18), streamSerialNumber: last.readUInt32LE(14), isLastPage: (last[5]! & 0x04) !== 0, rawData: last, codecFrames: [] };
  }
  if (read > kept) onTornEnd(read - kept);
}

/**
 * The warning for an Ogg Opus file cut short: no end-of-stream page, and perhaps a torn last page dropped.
 * One line; replay writes it to stderr.
 */
export function cutShortWarning(path: string, droppedBytes: number): string {
  const torn = droppedBytes > 0 ? `; its last page was torn, so its ${droppedBytes} bytes were dropped` : '';
  return `"${path}" was cut short: it ends without its Ogg end-of-stream page${torn}. Replaying what it holds up to there.`;
}
