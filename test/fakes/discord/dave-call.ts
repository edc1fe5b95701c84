/**
 * DAVE protocol version 1 in one voice channel, as Discord's voice gateway runs it (discord/dave-protocol
 * `protocol.md`, "Group Key Exchange"): the gateway is the MLS delivery service and external sender. It sends its
 * external sender package (op 25), turns each key package (op 26) into an Add proposal and each departure into a
 * Remove proposal (op 27) for the group's members, broadcasts the first valid commit it gets for the epoch (op 29)
 * and forwards the Welcome to the added (op 30), then executes the transition (op 22) once everyone is ready
 * (op 23) or after a timeout. A member reporting an unprocessable commit or welcome (op 31) is removed and re-added
 * when its new key package arrives. When one member is left, the group is reset (op 24 epoch 1, op 21 id 0).
 *
 * The bot is one participant, over its voice WebSocket; the other members are `@snazzah/davey` sessions in this
 * process (the library @discordjs/voice uses), which process proposals, commit and encrypt their Opus with
 * `encryptOpus`. Faults are injected on the messages to the bot, one per {@link DaveCall.inject}.
 */
import davey from '@snazzah/davey';
import type { DAVESession } from '@snazzah/davey';
import { ExternalSender, groupIdOf, parseCommitWelcome, parseKeyPackage, proposalRef } from './mls.ts';
import { RecordLog } from './record-log.ts';

const SILENCE = Buffer.from([0xf8, 0xff, 0xfe]);

/** A fault applied to the next matching message to the bot. */
export type DaveFault =
  | 'lose-commit'
  | 'corrupt-commit'
  | 'lose-welcome'
  | 'corrupt-welcome'
  | 'transition-id-zero'
  | 'lose-execute'
  | 'stale-proposals';

/** Where the call's messages to the bot go; implemented by the bot's voice session. */
export interface BotLink {
  readonly userId: string;
  sendJson(op: number, d: unknown): void;
  sendBinary(op: number, payload: Buffer): void;
}

/** Per member media counts, for loss tables. */
export interface MemberMediaStats {
  /** Opus packets the member sent while the bot was in the call. */
  sent: number;
  /** Of those, packets sent while the bot was not in step with the member's epoch (not in the group, or behind). */
  outOfStep: number;
  /** Of those, packets sent unencrypted although the member's session was ready (the unencrypted-frames fault). */
  unencrypted: number;
}

/** Something the call did, for tests and logs. */
export interface DaveEvent {
  kind: 'proposals' | 'commit-won' | 'commit-ignored' | 'welcome' | 'execute' | 'invalid' | 'reset' | 'fault';
  epoch: bigint;
  transitionId?: number;
  userId?: string;
  detail?: string;
}

/** A proposal broadcast in this epoch and not yet committed. */
interface InFlight {
  message: Buffer;
  ref: Buffer;
  adds?: string;
  removes?: number;
}

interface Participant {
  userId: string;
  bot: BotLink | undefined;
  dave: DAVESession | undefined;
  leaf: number | undefined;
  keyPackage: Buffer | undefined;
  /** Reported an invalid commit/welcome or got a reset: proposals are not sent to it until it is welcomed again. */
  resetting: boolean;
  stats: MemberMediaStats;
  /** Send one frame in `n` unencrypted (0: none). */
  unencryptedEvery: number;
  /** Counts the commits a simulated member made: processing new proposals supersedes its unsent commit. */
  commits: number;
}

/** Options of a {@link DaveCall}. */
export interface DaveCallOptions {
  /** Whose commit the gateway gets first when the bot and the members both commit: default `'member'`. */
  firstCommit?: 'member' | 'bot';
  /** How long the gateway waits for op 23 before executing a transition anyway, ms. Default 1,000. */
  transitionTimeoutMs?: number;
  /**
   * How long simulated members take to send their commit after proposals, ms (a real client's round trip to the
   * voice gateway; default 0). While it runs, a joining bot is not yet welcomed.
   */
  memberCommitDelayMs?: number;
}

/** One channel's DAVE v1 session state on the voice gateway. */
export class DaveCall {
  readonly channelId: string;
  readonly events = new RecordLog<DaveEvent>('DAVE event', (e) => `${e.kind} epoch ${e.epoch} ${e.userId ?? ''} ${e.detail ?? ''}`);
  readonly #sender = new ExternalSender();
  readonly #groupId: Buffer;
  readonly #participants = new Map<string, Participant>();
  readonly #faults: DaveFault[] = [];
  readonly #options: Required<DaveCallOptions>;
  #established = false;
  #epoch = 0n;
  #leaves: Array<string | null> = [];
  /** Proposals of this epoch not yet committed: the message and whom it adds or removes. */
  #inFlight: InFlight[] = [];
  #nextTransitionId = 1;
  #transition: { id: number; waiting: Set<string>; timer: NodeJS.Timeout } | undefined;
  /** The epoch the bot is known to be in (processed the commit or welcome and said ready), if any. */
  #botEpoch: bigint | undefined;
  #pendingBotEpoch: bigint | undefined;
  #deferred: Array<() => void> = [];
  #deferTimer: NodeJS.Timeout | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();
  #settling = false;
  #membersPending: Array<() => void> = [];
  readonly #queuedRemovals = new Set<number>();
  readonly #heldBotCommits: Array<() => void> = [];

  constructor(channelId: string, options: DaveCallOptions = {}) {
    this.channelId = channelId;
    this.#groupId = groupIdOf(channelId);
    this.#options = { firstCommit: 'member', transitionTimeoutMs: 1_000, memberCommitDelayMs: 0, ...options };
  }

  /** The group's epoch on the gateway (0 while no group is established). */
  get epoch(): bigint {
    return this.#established ? this.#epoch : 0n;
  }

  /** Queues a fault for the next message to the bot it applies to. */
  inject(fault: DaveFault): void {
    this.#faults.push(fault);
  }

  /** Media counts of a simulated member. */
  statsOf(userId: string): MemberMediaStats {
    const p = this.#participants.get(userId);
    if (!p) throw new Error(`${userId} is not in the DAVE call`);
    return p.stats;
  }

  /** Makes a simulated member send one frame in `every` unencrypted (Pycord#3201); 0 stops it. */
  setUnencryptedEvery(userId: string, every: number): void {
    const p = this.#participants.get(userId);
    if (p) p.unencryptedEvery = every;
  }

  /** Whether the bot is in step with `userId`'s epoch right now. */
  botInStepWith(userId: string): boolean {
    const epoch = this.#participants.get(userId)?.dave?.epoch;
    return this.#botEpoch !== undefined && epoch !== null && epoch !== undefined && this.#botEpoch === epoch;
  }

  /**
   * A simulated member joins: a fresh davey session whose key package the gateway proposes. With `settled`, the
   * member was already in the call before the bot came: its commits take no time, so the group is established.
   */
  memberJoins(userId: string, options: { settled?: boolean } = {}): void {
    if (this.#participants.has(userId)) return;
    const dave = new davey.DAVESession(1, userId, this.channelId);
    dave.setExternalSender(this.#sender.package());
    const p = this.#participant(userId, undefined, dave);
    this.#settling = options.settled ?? false;
    try {
      this.#onKeyPackage(p, dave.getSerializedKeyPackage());
    } finally {
      this.#settling = false;
    }
  }

  /** The bot's voice session selected protocol with DAVE v1: send it the external sender (op 25). */
  botJoins(link: BotLink): void {
    const old = this.#participants.get(link.userId);
    if (old) this.leaves(link.userId);
    this.#participant(link.userId, link, undefined);
    link.sendBinary(25, this.#sender.package());
  }

  /** A participant left (a member disconnected, or the bot's session closed): Remove proposal, or a group reset. */
  leaves(userId: string): void {
    const p = this.#participants.get(userId);
    if (!p) return;
    this.#participants.delete(userId);
    if (p.bot) this.#botEpoch = this.#pendingBotEpoch = undefined;
    if (p.leaf === undefined || !this.#established) return;
    const remaining = [...this.#participants.values()];
    if (remaining.length <= 1) return this.#soleMemberReset(remaining[0], p.leaf);
    this.#propose([this.#entry(this.#sender.remove(this.#groupId, this.#epoch, p.leaf), { removes: p.leaf })]);
  }

  /** Encodes one Opus packet of `userId` as their client would: E2EE once their session is ready. */
  encode(userId: string, opus: Buffer): Buffer {
    const p = this.#participants.get(userId);
    if (!p?.dave) return opus;
    p.stats.sent += 1;
    if (!this.botInStepWith(userId)) p.stats.outOfStep += 1;
    // The silence frame passes DAVE untransformed (protocol.md "Silence Packets").
    if (!p.dave.ready || opus.equals(SILENCE)) return opus;
    if (p.unencryptedEvery > 0 && p.stats.sent % p.unencryptedEvery === 0) {
      p.stats.unencrypted += 1;
      return opus;
    }
    return p.dave.encryptOpus(opus);
  }

  /** A message from the bot: op 26 and 28 binary, op 23 and 31 JSON. */
  fromBot(userId: string, op: number, payload: Buffer | Record<string, unknown>): void {
    const p = this.#participants.get(userId);
    if (!p) return;
    if (op === 26 && Buffer.isBuffer(payload)) this.#onKeyPackage(p, payload);
    else if (op === 28 && Buffer.isBuffer(payload)) {
      if (this.#options.firstCommit === 'member' && this.#timers.size > 0) this.#heldBotCommits.push(() => this.#onCommit(p, payload));
      else this.#onCommit(p, payload);
    }
    else if (op === 23 && !Buffer.isBuffer(payload)) this.#onReady(p, Number(payload['transition_id']));
    else if (op === 31 && !Buffer.isBuffer(payload)) this.#onInvalid(p, Number(payload['transition_id']));
  }

  /** Stops timers. */
  close(): void {
    if (this.#transition) clearTimeout(this.#transition.timer);
    if (this.#deferTimer) clearTimeout(this.#deferTimer);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#transition = undefined;
    this.events.rejectAll('stand-in closed');
  }

  #participant(userId: string, bot: BotLink | undefined, dave: DAVESession | undefined): Participant {
    const p: Participant = { userId, bot, dave, leaf: undefined, keyPackage: undefined, resetting: false, stats: { sent: 0, outOfStep: 0, unencrypted: 0 }, unencryptedEvery: 0, commits: 0 };
    this.#participants.set(userId, p);
    return p;
  }

  #takeFault(...kinds: DaveFault[]): DaveFault | undefined {
    const index = this.#faults.findIndex((f) => kinds.includes(f));
    if (index < 0) return undefined;
    const [fault] = this.#faults.splice(index, 1);
    this.events.push({ kind: 'fault', epoch: this.#epoch, detail: fault });
    return fault;
  }

  #onKeyPackage(p: Participant, payload: Buffer): void {
    let info;
    try {
      info = parseKeyPackage(payload);
    } catch {
      return;
    }
    // protocol.md "Key Packages / Validation": the credential must name the authenticated user.
    if (info.userId !== p.userId) return;
    p.keyPackage = info.keyPackage;
    // "A pending group member can replace their key package but cannot simultaneously use multiple key packages":
    // an uncommitted Add of its old one is revoked.
    const replaced = this.#inFlight.filter((f) => f.adds === p.userId);
    if (replaced.length > 0) {
      this.#inFlight = this.#inFlight.filter((f) => f.adds !== p.userId);
      const holders = [...this.#participants.values()].filter((o) => o !== p && (this.#established ? o.leaf !== undefined && !o.resetting : o.keyPackage));
      // Commits already made over the revoked proposal are void.
      for (const holder of holders) holder.commits += 1;
      this.#deliver(holders, ExternalSender.revokeProposals(replaced.map((f) => f.ref)), []);
    }
    if (!this.#established) {
      // Initial group creation: everyone pending gets an Add for everyone else.
      const entry = this.#entry(this.#sender.add(this.#groupId, 0n, info.keyPackage), { adds: p.userId });
      const earlier = [...this.#inFlight];
      this.#inFlight.push(entry);
      const others = [...this.#participants.values()].filter((o) => o !== p && o.keyPackage);
      const mine = earlier.length > 0 ? [{ to: p, payload: ExternalSender.appendProposals(earlier.map((f) => f.message)) }] : [];
      this.#deliver(others, ExternalSender.appendProposals([entry.message]), mine);
      return;
    }
    if (p.leaf !== undefined) {
      this.#propose([this.#entry(this.#sender.remove(this.#groupId, this.#epoch, p.leaf), { removes: p.leaf })]);
      p.leaf = undefined;
    }
    // The same signature key cannot be in the tree twice (OpenMLS refuses the commit with DuplicateSignatureKey):
    // a member being removed is re-added once the removal is committed (see #repropose).
    if (this.#leaves.includes(p.userId)) return;
    this.#propose([this.#entry(this.#sender.add(this.#groupId, this.#epoch, info.keyPackage), { adds: p.userId })]);
  }

  #entry(message: Buffer, target: { adds?: string; removes?: number }): InFlight {
    return { message, ref: proposalRef(message), ...target };
  }

  /** Broadcasts proposals of the current (established) epoch to the group's members, except those resetting. */
  #propose(batch: InFlight[]): void {
    if (batch.length === 0) return;
    // One batch per epoch: later proposals wait for the commit of the earlier ones ("The voice gateway may delay
    // this message ... to finalize committing a previous in-flight add proposal"). Adds of pending members are
    // made again after each commit; removals are remembered.
    if (this.#established && this.#inFlight.length > 0) {
      for (const f of batch) if (f.removes !== undefined) this.#queuedRemovals.add(f.removes);
      return;
    }
    this.#inFlight.push(...batch);
    const members = [...this.#participants.values()].filter((o) => o.leaf !== undefined && !o.resetting);
    this.#deliver(members, ExternalSender.appendProposals(batch.map((b) => b.message)), []);
  }

  /**
   * Sends an op 27 payload (`[operation type][vector]`) to `to` (and `extra` their own payloads), then lets
   * simulated members commit: every member processes the proposals before any commit is announced, as over a
   * real network.
   */
  #deliver(to: Participant[], payload: Buffer, extra: Array<{ to: Participant; payload: Buffer }>): void {
    this.#applyMembers();
    const commits: Array<() => void> = [];
    const recognized = [...this.#participants.keys()];
    const sendTo = (target: Participant, body: Buffer): void => {
      this.events.push({ kind: 'proposals', epoch: this.#epoch, userId: target.userId, detail: body[0] === 1 ? 'revoke' : 'append' });
      if (target.bot) {
        let out = body;
        if (this.#established && body[0] === 0 && this.#takeFault('stale-proposals')) {
          // The same proposals, signed for the previous epoch: what a member one commit behind would get.
          const stale = this.#inFlight.slice(-1).map((f) =>
            f.adds !== undefined
              ? this.#sender.add(this.#groupId, this.#epoch - 1n, this.#participants.get(f.adds)?.keyPackage ?? Buffer.alloc(0))
              : this.#sender.remove(this.#groupId, this.#epoch - 1n, f.removes ?? 0),
          );
          out = ExternalSender.appendProposals(stale);
        }
        target.bot.sendBinary(27, out);
        return;
      }
      const dave = target.dave;
      if (!dave) return;
      const result = dave.processProposals(body[0] ?? 0, body.subarray(1), recognized);
      if (result.commit) {
        const commitPayload = result.welcome ? Buffer.concat([result.commit, result.welcome]) : result.commit;
        const seq = ++target.commits;
        commits.push(() => {
          if (target.commits === seq) this.#onCommit(target, commitPayload);
        });
      }
    };
    for (const target of to) sendTo(target, payload);
    for (const { to: target, payload: own } of extra) sendTo(target, own);
    const botCommits = [...to, ...extra.map((e) => e.to)].some((t) => t.bot && (t.leaf !== undefined || !this.#established));
    if (this.#options.firstCommit === 'bot' && botCommits) {
      this.#deferred.push(...commits);
      this.#deferTimer ??= setTimeout(() => this.#flushDeferred(), this.#options.transitionTimeoutMs);
      return;
    }
    if (this.#options.memberCommitDelayMs > 0 && commits.length > 0 && !this.#settling) {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        for (const commit of commits) commit();
        // With `firstCommit: 'member'`, the bot's commit reaches the gateway after the members' ones.
        if (this.#timers.size === 0) for (const held of this.#heldBotCommits.splice(0)) held();
      }, this.#options.memberCommitDelayMs);
      this.#timers.add(timer);
      return;
    }
    for (const commit of commits) commit();
  }

  #flushDeferred(): void {
    if (this.#deferTimer) clearTimeout(this.#deferTimer);
    this.#deferTimer = undefined;
    for (const commit of this.#deferred.splice(0)) commit();
  }

  #onCommit(from: Participant, payload: Buffer): void {
    let info;
    try {
      info = parseCommitWelcome(payload);
    } catch (error) {
      this.events.push({ kind: 'commit-ignored', epoch: this.#epoch, userId: from.userId, detail: (error as Error).message });
      return;
    }
    const expected = this.#established ? this.#epoch : 0n;
    const covered = this.#inFlight.filter((f) => info.refs.some((r) => r.equals(f.ref)));
    // protocol.md "Commit Ordering" and "Voice Gateway Commit Validity": the first commit for the epoch wins; past
    // or future epochs are not broadcast, nor commits referencing proposals the gateway did not send.
    if (info.epoch !== expected || covered.length === 0 || covered.length !== info.refs.length) {
      this.events.push({ kind: 'commit-ignored', epoch: this.#epoch, userId: from.userId, detail: `epoch ${info.epoch}` });
      if (from.bot) this.#flushDeferred();
      return;
    }
    const before = new Set([...this.#participants.values()].filter((o) => o.leaf !== undefined || o === from));
    if (!this.#established) {
      this.#leaves = [from.userId];
      from.leaf = 0;
      from.keyPackage = undefined;
    }
    const added: Participant[] = [];
    for (const f of covered) {
      if (f.removes === undefined) continue;
      const gone = this.#leaves[f.removes];
      this.#leaves[f.removes] = null;
      const owner = gone === undefined || gone === null ? undefined : this.#participants.get(gone);
      if (owner?.leaf === f.removes) owner.leaf = undefined;
    }
    for (const f of covered) {
      if (f.adds === undefined) continue;
      const member = this.#participants.get(f.adds);
      if (!member) continue;
      let leaf = this.#leaves.indexOf(null);
      if (leaf < 0) leaf = this.#leaves.push(f.adds) - 1;
      else this.#leaves[leaf] = f.adds;
      member.leaf = leaf;
      member.keyPackage = undefined;
      member.resetting = false;
      added.push(member);
    }
    // Proposals the commit left out die with the epoch; the gateway proposes them again in the next one.
    const leftover = this.#inFlight.filter((f) => !covered.includes(f));
    this.#inFlight = [];
    this.#established = true;
    this.#epoch = info.epoch + 1n;
    const id = this.#takeFault('transition-id-zero') ? 0 : this.#allocateTransitionId();
    this.events.push({ kind: 'commit-won', epoch: this.#epoch, transitionId: id, userId: from.userId, detail: `leaves ${JSON.stringify(this.#leaves)}` });
    const waiting = new Set<string>();
    const transitionBuffer = Buffer.alloc(2);
    transitionBuffer.writeUInt16BE(id);
    for (const member of before) {
      if (member.leaf === undefined || added.includes(member)) continue;
      this.#send(member, 29, Buffer.concat([transitionBuffer, info.commit]), waiting);
    }
    for (const member of added) {
      if (!info.welcome) continue;
      this.events.push({ kind: 'welcome', epoch: this.#epoch, transitionId: id, userId: member.userId });
      this.#send(member, 30, Buffer.concat([transitionBuffer, info.welcome]), waiting);
    }
    if (from.bot) this.#flushDeferred();
    if (id === 0) this.#applyMembers();
    else {
      if (this.#transition) clearTimeout(this.#transition.timer);
      const timer = setTimeout(() => this.#execute(id), this.#options.transitionTimeoutMs);
      this.#transition = { id, waiting, timer };
      if (waiting.size === 0) this.#execute(id);
    }
    this.#repropose(leftover);
  }

  /** After a commit: proposes again the removals it left out, and adds every pending member not in the tree. */
  #repropose(leftover: InFlight[]): void {
    const batch: InFlight[] = [];
    const removals = new Set([...leftover.flatMap((f) => (f.removes === undefined ? [] : [f.removes])), ...this.#queuedRemovals]);
    this.#queuedRemovals.clear();
    for (const leaf of removals) {
      if (this.#leaves[leaf]) batch.push(this.#entry(this.#sender.remove(this.#groupId, this.#epoch, leaf), { removes: leaf }));
    }
    const removing = new Set(batch.map((f) => this.#leaves[f.removes ?? -1]));
    for (const member of this.#participants.values()) {
      if (member.leaf !== undefined || !member.keyPackage || this.#leaves.includes(member.userId) || removing.has(member.userId)) continue;
      batch.push(this.#entry(this.#sender.add(this.#groupId, this.#epoch, member.keyPackage), { adds: member.userId }));
    }
    this.#propose(batch);
  }

  #allocateTransitionId(): number {
    const id = this.#nextTransitionId;
    this.#nextTransitionId = (this.#nextTransitionId % 0xffff) + 1;
    return id;
  }

  /** Sends op 29/30 to a participant: the bot over its socket (with faults), a simulated member processes it. */
  #send(member: Participant, op: 29 | 30, payload: Buffer, waiting: Set<string>): void {
    const id = payload.readUInt16BE(0);
    if (member.bot) {
      const fault = op === 29 ? this.#takeFault('lose-commit', 'corrupt-commit') : this.#takeFault('lose-welcome', 'corrupt-welcome');
      this.#pendingBotEpoch = fault ? undefined : this.#epoch;
      if (id === 0 && !fault) this.#botEpoch = this.#epoch;
      if (fault?.startsWith('lose')) {
        waiting.add(member.userId);
        return;
      }
      let out = payload;
      if (fault) {
        out = Buffer.from(payload);
        for (let i = out.length - 40; i < out.length - 8; i++) out[i] = (out[i] ?? 0) ^ 0x5a;
      }
      waiting.add(member.userId);
      member.bot.sendBinary(op, out);
      return;
    }
    // A client keeps sending with the previous epoch's keys until the transition executes (protocol.md "Member
    // Remove"); davey switches keys when it processes the commit, so members process it at execute time.
    const body = payload.subarray(2);
    this.#membersPending.push(() => (op === 29 ? member.dave?.processCommit(body) : member.dave?.processWelcome(body)));
  }

  /** Members apply the winning commit or welcome (at execute time, or before they get new proposals). */
  #applyMembers(): void {
    for (const apply of this.#membersPending.splice(0)) apply();
  }

  #onReady(p: Participant, transitionId: number): void {
    if (p.bot && this.#pendingBotEpoch !== undefined) this.#botEpoch = this.#pendingBotEpoch;
    const transition = this.#transition;
    if (!transition || transition.id !== transitionId) return;
    transition.waiting.delete(p.userId);
    if (transition.waiting.size === 0) this.#execute(transitionId);
  }

  #execute(transitionId: number): void {
    const transition = this.#transition;
    if (!transition || transition.id !== transitionId) return;
    clearTimeout(transition.timer);
    this.#transition = undefined;
    this.events.push({ kind: 'execute', epoch: this.#epoch, transitionId });
    this.#applyMembers();
    for (const p of this.#participants.values()) {
      if (!p.bot || p.leaf === undefined) continue;
      if (this.#takeFault('lose-execute')) continue;
      p.bot.sendJson(22, { transition_id: transitionId });
    }
  }

  /** protocol.md "Recovery from Invalid Commit or Welcome": remove the flagging member; re-add on its key package. */
  #onInvalid(p: Participant, transitionId: number): void {
    this.events.push({ kind: 'invalid', epoch: this.#epoch, transitionId, userId: p.userId });
    if (p.bot) this.#botEpoch = this.#pendingBotEpoch = undefined;
    p.resetting = true;
    if (p.leaf === undefined || !this.#established) return;
    const leaf = p.leaf;
    p.leaf = undefined;
    const others = [...this.#participants.values()].filter((o) => o !== p);
    if (others.filter((o) => o.leaf !== undefined).length <= 1 && others.length <= 1) return this.#soleMemberReset(others[0], leaf);
    this.#propose([this.#entry(this.#sender.remove(this.#groupId, this.#epoch, leaf), { removes: leaf })]);
  }

  /** protocol.md "Sole member reset": op 24 epoch 1 then op 21 transition 0; the group is recreated on next join. */
  #soleMemberReset(last: Participant | undefined, _leaf: number): void {
    this.#established = false;
    this.#epoch = 0n;
    this.#leaves = [];
    this.#inFlight = [];
    this.#queuedRemovals.clear();
    this.events.push({ kind: 'reset', epoch: 0n, ...(last ? { userId: last.userId } : {}) });
    if (!last) return;
    last.leaf = undefined;
    last.keyPackage = undefined;
    if (last.bot) {
      this.#botEpoch = this.#pendingBotEpoch = undefined;
      last.bot.sendJson(24, { protocol_version: 1, epoch: 1 });
      last.bot.sendJson(21, { protocol_version: 1, transition_id: 0 });
      return;
    }
    last.dave?.reinit(1, last.userId, this.channelId);
    last.dave?.setExternalSender(this.#sender.package());
    if (last.dave) last.keyPackage = parseKeyPackage(last.dave.getSerializedKeyPackage()).keyPackage;
  }
}
