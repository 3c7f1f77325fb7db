// The pcapng packet comments of `ftcp capture NAME`: what the second wrapper decided for a packet,
// in words an operator can grep for. Every comment starts with one of the decision words
// stored, delayed, discarded, modified, passed, forged, released (docs/TROUBLESHOOTING.md).
import type { DecisionNote, InjectKind } from '../wrapper/second-wrapper.js';

/** One note of the wrapper about the packet being processed. */
export interface NotedDecision {
  note: DecisionNote;
  a: number;
  b: number;
}

/** The header fields a rewrite can change, read before and after processing. */
export interface SegmentFields {
  seq: number;
  ack: number;
  win: number;
  /** -1 without the timestamps option. */
  tsval: number;
  tsecr: number;
  /** SACK blocks as text ("" without). */
  sack: string;
}

const NOTE_TEXT: Record<DecisionNote, string> = {
  'stored-data': 'stored: client bytes',
  'stored-fin': "stored: the client's FIN at offset",
  'stored-opened': 'stored: the connection record (handshake parameters)',
  'delayed-synack': 'delayed: SYN-ACK held until the connection record is durable',
  'delayed-ack': 'delayed: pure ACK held, it would acknowledge client bytes not yet durable',
  'delayed-close': "delayed: FIN/RST of the app's stack held until the app is known to be alive (a crash is not a close)",
  'delayed-regenerated': 'delayed: regenerated output held until it is verified against what the client was sent',
  'discarded-app-down-syn': 'discarded: SYN while the app is down (the client retries it)',
  'discarded-app-down-refusal': "discarded: the dying app's stack refused a SYN (the client retries it once the app is back)",
  'discarded-log-refused': 'discarded: the log refused the record (the client resends)',
  'discarded-outside-window': 'discarded: data beyond the window the client was offered',
  'discarded-held': 'discarded: the app is down, the client is held (answered with a zero-window ACK; logged bytes are replayed later)',
  'discarded-dead-stack': "discarded: output of the crashed app's stack",
  'discarded-restore-synack': "discarded: the restarted stack's SYN-ACK (restore handshake, never sent to the client)",
  'discarded-replay': "discarded: the restarted stack's ACK during replay (the daemon answers it)",
  'discarded-regenerated': 'discarded: regenerated output the client already acknowledged',
  'discarded-divergence': 'discarded: regenerated output differs from what the client received (divergence: the connection is reset)',
  'discarded-replay-rst': 'discarded: the restarted stack reset the connection during replay',
};

const INJECT_TEXT: Record<InjectKind, string> = {
  'forged-syn': "forged: SYN from the client's address to the restarted stack (restore handshake, the client's ISN and options)",
  'forged-handshake-ack': 'forged: ACK completing the restore handshake',
  'forged-replay': 'forged: logged client bytes replayed into the restarted stack',
  'forged-replay-fin': "forged: the client's logged FIN replayed into the restarted stack",
  'forged-stack-ack': 'forged: ACK to the restarted stack for output the client already has',
  'forged-purge-rst': "forged: RST purging the dead app's socket",
  'forged-abort-rst': 'forged: RST to the stack, the connection cannot be restored',
  'forged-client-rst': 'forged: RST to the client, the connection cannot be restored',
  'forged-hold-ack': 'forged: zero-window hold ACK at the durable point (the app is down)',
  'forged-unreachable': 'forged: ICMP unreachable to a held client, so that it retransmits now (RFC 6069 undoes its backoff)',
  'forged-ack': 'forged: synthesized ACK, client bytes became durable',
  'released-synack': 'released: SYN-ACK held until the connection record was durable',
  'released-close': 'released: FIN/RST of the stack, the app is alive (a close, not a crash)',
  'released-regenerated': 'released: regenerated output, verified, sent to the client',
};

function noteText(d: NotedDecision): string {
  const t = NOTE_TEXT[d.note];
  switch (d.note) {
    case 'stored-data':
      return `${t} ${d.a}-${d.b} (${d.b - d.a} B)`;
    case 'stored-fin':
      return `${t} ${d.a}`;
    case 'delayed-ack':
      return `${t} (stack ack at client offset ${d.a}, durable ${d.b})`;
    case 'delayed-regenerated':
    case 'discarded-regenerated':
      return d.b > d.a ? `${t} (server bytes ${d.a}-${d.b})` : t;
    default:
      return t;
  }
}

/** "modified seq 1→2 ack 3→4 win 5→6 …", or "" when nothing the capture looks at changed. */
export function rewriteText(before: SegmentFields, after: SegmentFields): string {
  const parts: string[] = [];
  if (before.seq !== after.seq) parts.push(`seq ${before.seq}→${after.seq}`);
  if (before.ack !== after.ack) parts.push(`ack ${before.ack}→${after.ack}`);
  if (before.win !== after.win) parts.push(`win ${before.win}→${after.win}`);
  if (before.tsval !== after.tsval) parts.push(`tsval ${before.tsval}→${after.tsval}`);
  if (before.tsecr !== after.tsecr) parts.push(`tsecr ${before.tsecr}→${after.tsecr}`);
  if (before.sack !== after.sack) parts.push(after.sack === '' ? `sack ${before.sack} removed (not durable)` : `sack ${before.sack}→${after.sack}`);
  return parts.length > 0 ? `modified ${parts.join(' ')}` : '';
}

/**
 * The comment of a packet the relay processed: the wrapper's notes in order, then what happened
 * to it: `modified …` or `passed` when it was transmitted, else (no note said why) `discarded`.
 * `malformed` is the parse error of a malformed TCP packet, if it was one.
 */
export function processedComment(notes: readonly NotedDecision[], transmitted: boolean, rewrite: string, malformed?: string): string {
  const parts = notes.map(noteText);
  if (transmitted) parts.push(rewrite !== '' ? rewrite : 'passed');
  else if (malformed !== undefined) parts.push(`discarded: malformed TCP (${malformed})`);
  else if (!notes.some((n) => n.note.startsWith('delayed') || n.note.startsWith('discarded'))) parts.push('discarded');
  return parts.join('; ');
}

/** The comment of a packet the wrapper sent on its own. */
export function injectedComment(kind: InjectKind): string {
  return INJECT_TEXT[kind];
}

/** The decision word a comment starts with (for counting). */
export function decisionWord(comment: string): string {
  const m = /^[a-z]+/.exec(comment);
  return m ? m[0] : '';
}
