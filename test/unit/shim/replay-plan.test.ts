import { describe, expect, it } from 'vitest';
import type { ReadItem } from '../../../src/log/client.js';
import type { Record } from '../../../src/log/gen/ftcp/v1/log.js';
import { encodeEnvelope } from '../../../src/shim/checkpoint-envelope.js';
import { buildReplayPlan } from '../../../src/shim/replay-plan.js';

const A = '10.0.0.1:1000>7000';
const B = '10.0.0.1:1001>7000';
let lsn = 0;
const rec = (record: Record): ReadItem => ({ type: 'record', lsn: ++lsn, epoch: 0, streamId: 's', seq: lsn, record });
const opened = (tuple: string): ReadItem =>
  rec({ connId: `${tuple}/123`, kind: { $case: 'opened', value: { client: undefined, server: undefined, ipVersion: 4, irs: 123, iss0: 9, options: undefined, clientWindow: 0 } } });
const accept = (tuple: string, n: number, g: number): ReadItem => rec({ connId: `${tuple}#${n}`, kind: { $case: 'shimAccept', value: { acceptOrder: n, globalOrder: g } } });
const chunks = (id: string, offset: number, lengths: number[], g: number): ReadItem => rec({ connId: id, kind: { $case: 'shimChunks', value: { offset, lengths, globalOrder: g } } });
const value = (name: string, v: number, g: number): ReadItem => rec({ connId: '', kind: { $case: 'nondeterministic', value: { name, value: Buffer.from([v]), globalOrder: g } } });

describe('buildReplayPlan', () => {
  it('orders accepts and chunks of every restorable connection by global order', () => {
    const plan = buildReplayPlan([
      opened(A),
      accept(A, 0, 0),
      opened(B),
      accept(B, 1, 1),
      chunks(`${B}#1`, 0, [5], 2),
      chunks(`${A}#0`, 0, [3, 4], 3),
      value('now', 7, 5),
      chunks(`${B}#1`, 5, [1], 6),
    ]);
    expect(plan.events.map((e) => `${e.g}:${e.kind}:${e.conn.acceptOrder}${e.kind === 'chunk' ? `@${e.chunk.offset}+${e.chunk.length}` : ''}`)).toEqual([
      '0:accept:0',
      '1:accept:1',
      '2:chunk:1@0+5',
      '3:chunk:0@0+3',
      '4:chunk:0@3+4',
      '6:chunk:1@5+1',
    ]);
    expect(plan.values.map((v) => v.g)).toEqual([5]);
    expect(plan.nextGlobalOrder).toBe(7);
    expect(plan.nextAcceptOrder).toBe(2);
  });

  it('leaves out connections the daemon no longer has, and names them stale', () => {
    const plan = buildReplayPlan([opened(A), accept(A, 0, 0), accept(B, 1, 1), chunks(`${B}#1`, 0, [5], 2)]);
    expect([...plan.conns.keys()]).toEqual([A]);
    expect(plan.stale).toEqual([`${B}#1`]);
    expect(plan.events.every((e) => e.conn.tuple === A)).toBe(true);
  });

  it('takes the newest shim connection of a reused 4-tuple and skips closed ones', () => {
    const plan = buildReplayPlan([
      opened(A),
      accept(A, 0, 0),
      rec({ connId: `${A}#0`, kind: { $case: 'closed', value: { reason: 1 } } }),
      accept(A, 3, 1),
      chunks(`${A}#3`, 0, [2], 2),
    ]);
    expect(plan.conns.get(A)?.shimId).toBe(`${A}#3`);
    expect(plan.stale).toEqual([]);
  });

  it('stops a connection’s chunks at a gap (a lost record cannot be handed over in place)', () => {
    const plan = buildReplayPlan([opened(A), accept(A, 0, 0), chunks(`${A}#0`, 0, [3], 1), chunks(`${A}#0`, 5, [3], 2)]);
    expect(plan.conns.get(A)?.chunks.map((c) => c.offset)).toEqual([0]);
  });

  it('starts from a checkpoint: its positions, the unacknowledged output, later events only', () => {
    const env = encodeEnvelope({ nextGlobalOrder: 10, nextAcceptOrder: 1, conns: [{ id: `${A}#0`, acceptOrder: 0, pending: Buffer.from('tail') }], app: { n: 42 } });
    const plan = buildReplayPlan([
      { type: 'checkpoint', checkpoint: { service: 's', epoch: 0, lsn: 5, state: env, positions: [{ connId: `${A}#0`, clientOffset: 30, serverOffset: 12 }], createdUnixMs: 0 } },
      opened(A),
      chunks(`${A}#0`, 20, [10], 9), // folded into the state
      chunks(`${A}#0`, 30, [4], 10),
      value('random', 1, 8), // folded
      value('random', 2, 11),
    ]);
    const a = plan.conns.get(A)!;
    expect(a.acceptG).toBe(-1);
    expect(a.clientBase).toBe(30);
    expect(a.serverBase).toBe(12);
    expect(a.pending.toString()).toBe('tail');
    expect(plan.events.map((e) => e.g)).toEqual([10]);
    expect(plan.values.map((v) => v.g)).toEqual([11]);
    expect(plan.checkpoint?.app).toEqual({ n: 42 });
    expect(plan.nextGlobalOrder).toBe(12);
    expect(plan.nextAcceptOrder).toBe(1);
  });

  it('rejects a checkpoint that is not the shim’s', () => {
    expect(() => buildReplayPlan([{ type: 'checkpoint', checkpoint: { service: 's', epoch: 0, lsn: 1, state: Buffer.from('xx'), positions: [], createdUnixMs: 0 } }])).toThrow(/not a shim checkpoint/);
  });
});
