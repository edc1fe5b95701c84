/**
 * The voice gateway's side of MLS for DAVE protocol version 1: an external sender (RFC 9420 §12.1.8.1) that signs
 * Add and Remove proposals, and just enough parsing of members' key packages and commits to route them.
 *
 * Wire formats (RFC 9420 §2.1 TLS presentation language, §6 framing; discord/dave-protocol `protocol.md`
 * "Voice Gateway Opcodes"): vectors carry a QUIC-style varint length (1, 2 or 4 bytes); `MLSMessage` is
 * `uint16 version = 1 (mls10)`, `uint16 wire_format`, then the body; ciphersuite 2 signs with ECDSA P-256 / SHA-256
 * (DER signatures, SEC1 uncompressed public keys, as OpenMLS's RustCrypto provider that davey builds on expects).
 * The DAVE group id is the channel id; a basic credential's identity is the user id as a big-endian uint64.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

const MLS10 = 1;
const WIRE_PUBLIC_MESSAGE = 1;
const WIRE_WELCOME = 3;
const WIRE_KEY_PACKAGE = 5;
const SENDER_MEMBER = 1;
const SENDER_EXTERNAL = 2;
const CONTENT_PROPOSAL = 2;
const CONTENT_COMMIT = 3;
const PROPOSAL_ADD = 1;
const PROPOSAL_REMOVE = 3;
const CREDENTIAL_BASIC = 1;

/** Serialises TLS-presentation-language structures. */
class Writer {
  readonly #parts: Buffer[] = [];
  u8(value: number): this {
    this.#parts.push(Buffer.from([value]));
    return this;
  }
  u16(value: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(value);
    this.#parts.push(b);
    return this;
  }
  u32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value >>> 0);
    this.#parts.push(b);
    return this;
  }
  u64(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(value);
    this.#parts.push(b);
    return this;
  }
  raw(bytes: Uint8Array): this {
    this.#parts.push(Buffer.from(bytes));
    return this;
  }
  /** `opaque<V>`: varint length then the bytes. */
  vec(bytes: Uint8Array): this {
    return this.raw(varint(bytes.length)).raw(bytes);
  }
  done(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

/** Reads TLS-presentation-language structures; throws `RangeError` past the end. */
export class Reader {
  readonly buffer: Buffer;
  offset: number;
  constructor(buffer: Buffer, offset = 0) {
    this.buffer = buffer;
    this.offset = offset;
  }
  #take(n: number): Buffer {
    if (this.offset + n > this.buffer.length) throw new RangeError(`MLS structure truncated at byte ${this.offset}`);
    const out = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  u8(): number {
    return this.#take(1).readUInt8(0);
  }
  u16(): number {
    return this.#take(2).readUInt16BE(0);
  }
  u32(): number {
    return this.#take(4).readUInt32BE(0);
  }
  u64(): bigint {
    return this.#take(8).readBigUInt64BE(0);
  }
  /** `opaque<V>`. */
  vec(): Buffer {
    const first = this.u8();
    const prefix = first >> 6;
    let length = first & 0x3f;
    const extra = prefix === 0 ? 0 : prefix === 1 ? 1 : prefix === 2 ? 3 : -1;
    if (extra < 0) throw new RangeError('MLS varint with prefix 0b11');
    for (let i = 0; i < extra; i++) length = length * 256 + this.u8();
    return this.#take(length);
  }
}

/** RFC 9420 §2.1.2 variable-size length header. */
function varint(n: number): Buffer {
  if (n < 0x40) return Buffer.from([n]);
  if (n < 0x4000) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((0x80000000 | n) >>> 0);
  return b;
}

/** A basic credential's identity for a Discord user id (big-endian uint64). */
export function userIdentity(userId: string): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(userId));
  return b;
}

/** What the gateway learns from a member's op 26 key package. */
export interface KeyPackageInfo {
  /** The `KeyPackage` itself (without its MLSMessage framing), as carried in an Add proposal. */
  keyPackage: Buffer;
  /** The user id in its basic credential. */
  userId: string;
}

/**
 * Parses op 26's payload: an `MLSMessage` with wire format `mls_key_package` (protocol.md "dave_mls_key_package").
 * Accepts a bare `KeyPackage` too. Throws `RangeError` on a malformed one.
 */
export function parseKeyPackage(payload: Buffer): KeyPackageInfo {
  const framed = payload.readUInt16BE(0) === MLS10 && payload.readUInt16BE(2) === WIRE_KEY_PACKAGE;
  const keyPackage = framed ? payload.subarray(4) : payload;
  const r = new Reader(keyPackage);
  r.u16(); // version
  r.u16(); // cipher_suite
  r.vec(); // init_key
  const leaf = readLeafNode(r);
  r.vec(); // extensions
  r.vec(); // signature
  return { keyPackage: keyPackage.subarray(0, r.offset), userId: BigInt('0x' + leaf.identity.toString('hex')).toString() };
}

/** RFC 9420 §7.2 LeafNode; returns the credential identity. */
function readLeafNode(r: Reader): { identity: Buffer } {
  r.vec(); // encryption_key
  r.vec(); // signature_key
  if (r.u16() !== CREDENTIAL_BASIC) throw new RangeError('DAVE allows basic credentials only');
  const identity = r.vec();
  for (let i = 0; i < 5; i++) r.vec(); // capabilities: versions, cipher_suites, extensions, proposals, credentials
  const source = r.u8();
  if (source === 1) {
    r.u64();
    r.u64();
  } else if (source === 3) r.vec();
  r.vec(); // extensions
  r.vec(); // signature
  return { identity };
}

/** The gateway's reading of an op 28 commit. */
export interface CommitInfo {
  /** The commit `MLSMessage` alone, as broadcast in op 29. */
  commit: Buffer;
  /** The `Welcome` (as sent, with or without MLSMessage framing) when the commit adds members. */
  welcome: Buffer | undefined;
  /** The epoch the commit was made in. */
  epoch: bigint;
  /** The committer's leaf index. */
  senderLeaf: number;
  /** The proposal references it covers. */
  refs: Buffer[];
}

/**
 * Parses op 28's payload: `MLSMessage commit_message` then an optional `Welcome` (protocol.md
 * "dave_mls_commit_welcome"). Throws `RangeError` if it is not a member's PublicMessage commit.
 */
export function parseCommitWelcome(payload: Buffer): CommitInfo {
  const r = new Reader(payload);
  if (r.u16() !== MLS10 || r.u16() !== WIRE_PUBLIC_MESSAGE) throw new RangeError('commit is not an MLS PublicMessage');
  r.vec(); // group_id
  const epoch = r.u64();
  if (r.u8() !== SENDER_MEMBER) throw new RangeError('commit not sent by a member');
  const senderLeaf = r.u32();
  r.vec(); // authenticated_data
  if (r.u8() !== CONTENT_COMMIT) throw new RangeError('not a commit');
  const proposalsVec = new Reader(r.vec());
  const refs: Buffer[] = [];
  while (proposalsVec.offset < proposalsVec.buffer.length) {
    const kind = proposalsVec.u8();
    if (kind === 2) refs.push(proposalsVec.vec());
    else throw new RangeError('DAVE commits carry proposals by reference only');
  }
  if (r.u8() === 1) {
    readLeafNode(r);
    r.vec(); // UpdatePathNode nodes<V>
  }
  r.vec(); // signature
  r.vec(); // confirmation_tag
  r.vec(); // membership_tag
  const commit = payload.subarray(0, r.offset);
  const rest = payload.subarray(r.offset);
  return { commit, welcome: rest.length > 0 ? rest : undefined, epoch, senderLeaf, refs };
}

/** Whether `welcome` is framed as an MLSMessage (davey frames it; protocol.md 1.1.2 says a bare Welcome). */
export function isFramedWelcome(welcome: Buffer): boolean {
  return welcome.length > 4 && welcome.readUInt16BE(0) === MLS10 && welcome.readUInt16BE(2) === WIRE_WELCOME;
}

/** The voice gateway's MLS identity: a P-256 key and a basic credential. */
export class ExternalSender {
  readonly #privateKey: KeyObject;
  readonly #publicKey: Buffer;
  readonly #identity: Buffer;

  constructor(identity = Buffer.from('voice-gateway')) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#privateKey = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    this.#publicKey = Buffer.concat([Buffer.from([4]), Buffer.from(String(jwk.x), 'base64url'), Buffer.from(String(jwk.y), 'base64url')]);
    this.#identity = identity;
  }

  /** op 25's payload: `ExternalSender { SignaturePublicKey signature_key; Credential credential; }`. */
  package(): Buffer {
    return new Writer().vec(this.#publicKey).u16(CREDENTIAL_BASIC).vec(this.#identity).done();
  }

  /** An external Add proposal for `keyPackage`, as an `MLSMessage` PublicMessage, in `epoch` of `groupId`. */
  add(groupId: Buffer, epoch: bigint, keyPackage: Buffer): Buffer {
    return this.#proposal(groupId, epoch, new Writer().u16(PROPOSAL_ADD).raw(keyPackage).done());
  }

  /** An external Remove proposal for leaf `leafIndex`. */
  remove(groupId: Buffer, epoch: bigint, leafIndex: number): Buffer {
    return this.#proposal(groupId, epoch, new Writer().u16(PROPOSAL_REMOVE).u32(leafIndex).done());
  }

  /** op 27's revoke payload: `revoke(1)` then `ProposalRef proposal_refs<V>`. */
  static revokeProposals(refs: readonly Buffer[]): Buffer {
    const w = new Writer();
    for (const ref of refs) w.vec(ref);
    return new Writer().u8(1).vec(w.done()).done();
  }

  /** op 27's payload (after the opcode): `append(0)` then `MLSMessage proposal_messages<V>`. */
  static appendProposals(messages: readonly Buffer[]): Buffer {
    return new Writer().u8(0).vec(Buffer.concat(messages)).done();
  }

  #proposal(groupId: Buffer, epoch: bigint, proposal: Buffer): Buffer {
    const content = new Writer().vec(groupId).u64(epoch).u8(SENDER_EXTERNAL).u32(0).vec(Buffer.alloc(0)).u8(CONTENT_PROPOSAL).raw(proposal).done();
    // FramedContentTBS for an external sender has no GroupContext (RFC 9420 §6.1).
    const tbs = new Writer().u16(MLS10).u16(WIRE_PUBLIC_MESSAGE).raw(content).done();
    const signContent = new Writer().vec(Buffer.from('MLS 1.0 FramedContentTBS')).vec(tbs).done();
    const signature = sign('sha256', signContent, { key: this.#privateKey, dsaEncoding: 'der' });
    return new Writer().u16(MLS10).u16(WIRE_PUBLIC_MESSAGE).raw(content).vec(signature).done();
  }
}

/** The DAVE group id of a voice channel: the channel id as big-endian uint64 (davey's `channelId`). */
export function groupIdOf(channelId: string): Buffer {
  return userIdentity(channelId);
}

/**
 * A proposal's reference (RFC 9420 §5.2): `RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent)` with
 * SHA-256. For an external sender's PublicMessage, AuthenticatedContent is the MLSMessage without its version.
 */
export function proposalRef(message: Buffer): Buffer {
  const label = Buffer.from('MLS 1.0 Proposal Reference');
  const value = message.subarray(2);
  return createHash('sha256').update(Buffer.concat([varint(label.length), label, varint(value.length), value])).digest();
}
