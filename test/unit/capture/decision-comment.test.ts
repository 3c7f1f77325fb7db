// The comments of `ftcp capture NAME`: wording of each decision, the rewrite text, and how they
// combine; every comment starts with one of the decision words.
import { describe, expect, it } from 'vitest';
import { decisionWord, injectedComment, processedComment, rewriteText, type SegmentFields } from '../../../src/capture/decision-comment.js';
import type { DecisionNote, InjectKind } from '../../../src/wrapper/second-wrapper.js';

const base: SegmentFields = { seq: 1000, ack: 2000, win: 512, tsval: 7, tsecr: 9, sack: '' };
const WORDS = ['stored', 'delayed', 'discarded', 'modified', 'passed', 'forged', 'released'];

describe('decision comments', () => {
  it('a transmitted packet is passed, or modified with old→new of each rewritten field', () => {
    expect(processedComment([], true, rewriteText(base, base))).toBe('passed');
    expect(rewriteText(base, { ...base, seq: 4294967295, ack: 1900, win: 256 })).toBe('modified seq 1000→4294967295 ack 2000→1900 win 512→256');
    expect(rewriteText(base, { ...base, tsval: 70, tsecr: 5 })).toBe('modified tsval 7→70 tsecr 9→5');
    expect(rewriteText({ ...base, sack: '5:9' }, base)).toBe('modified sack 5:9 removed (not durable)');
    expect(processedComment([], true, 'modified ack 2000→1900')).toBe('modified ack 2000→1900');
  });

  it('notes come first, in order, with their offsets', () => {
    const c = processedComment(
      [
        { note: 'stored-data', a: 100, b: 1548 },
        { note: 'stored-fin', a: 1548, b: 0 },
      ],
      true,
      'modified ack 1→2',
    );
    expect(c).toBe("stored: client bytes 100-1548 (1448 B); stored: the client's FIN at offset 1548; modified ack 1→2");
    expect(processedComment([{ note: 'delayed-ack', a: 3000, b: 1000 }], false, '')).toBe(
      'delayed: pure ACK held, it would acknowledge client bytes not yet durable (stack ack at client offset 3000, durable 1000)',
    );
  });

  it('a packet neither transmitted nor explained is discarded; a malformed one says why', () => {
    expect(processedComment([], false, '')).toBe('discarded');
    expect(processedComment([], false, '', 'truncated-tcp')).toBe('discarded: malformed TCP (truncated-tcp)');
    expect(processedComment([{ note: 'stored-data', a: 0, b: 10 }, { note: 'discarded-held', a: 0, b: 0 }], false, '')).toMatch(
      /^stored: client bytes 0-10 \(10 B\); discarded: the app is down/,
    );
  });

  it('every note and every injected kind has a text starting with a decision word', () => {
    const notes: DecisionNote[] = [
      'stored-data', 'stored-fin', 'stored-opened', 'delayed-synack', 'delayed-ack', 'delayed-close', 'delayed-regenerated',
      'discarded-app-down-syn', 'discarded-app-down-refusal', 'discarded-log-refused', 'discarded-outside-window', 'discarded-held', 'discarded-dead-stack',
      'discarded-restore-synack', 'discarded-replay', 'discarded-regenerated', 'discarded-divergence', 'discarded-replay-rst',
    ];
    for (const note of notes) {
      const c = processedComment([{ note, a: 1, b: 2 }], false, '');
      expect(WORDS, c).toContain(decisionWord(c));
      expect(decisionWord(c)).toBe(note.split('-')[0]);
      expect(c).not.toMatch(/undefined|NaN/);
    }
    const kinds: InjectKind[] = [
      'forged-syn', 'forged-handshake-ack', 'forged-replay', 'forged-replay-fin', 'forged-stack-ack', 'forged-purge-rst',
      'forged-abort-rst', 'forged-client-rst', 'forged-hold-ack', 'forged-unreachable', 'forged-ack', 'released-synack', 'released-close', 'released-regenerated',
    ];
    for (const k of kinds) expect(decisionWord(injectedComment(k))).toBe(k.split('-')[0]);
    expect(injectedComment('forged-syn')).toMatch(/^forged: SYN from the client's address/);
  });
});
