// A daemon's live objects for status and metrics tests: real TcpConn and ConnTable, real counter
// shapes, no TUN or log.
import { newRelayCounters } from '../../../src/relay/relay-counters.js';
import type { StatusSource } from '../../../src/status/snapshot.js';
import { parseIpAddr } from '../../../src/wire/addr.js';
import { ConnTable } from '../../../src/wrapper/conn-table.js';
import { TcpConn, type ConnState } from '../../../src/wrapper/conn.js';
import { newWrapperCounters, type WrapperCounters } from '../../../src/wrapper/wrapper-counters.js';

export { newWrapperCounters };


const OPTS = { clientMss: 1460, serverMss: 1460, clientWscale: 7, serverWscale: 7, sackOk: true, tsOk: true, clientSynWindow: 64240 };

export function makeConn(client: string, port: number, servicePort: number, state: ConnState): TcpConn {
  const addr = parseIpAddr(client);
  const c = new TcpConn({
    id: `${client}-${port}-${servicePort}`,
    ipVersion: addr.length === 4 ? 4 : 6,
    clientAddr: addr,
    clientPort: port,
    serverAddr: parseIpAddr(addr.length === 4 ? '10.77.0.2' : 'fd77::2'),
    serverPort: servicePort,
    irs: 0xfffffff0,
    opts: OPTS,
  });
  c.state = state;
  return c;
}

export interface FakeDaemon {
  source: StatusSource;
  table: ConnTable;
  wrapper: { conns: ConnTable; counters: WrapperCounters; appDown: boolean };
  supervisor: { pid: number | undefined; restarts: number };
  logClient: { durableSeq: number; lastSeq: number; unacknowledgedBytes: number };
}

export function fakeDaemon(): FakeDaemon {
  const table = new ConnTable();
  const a = makeConn('192.0.2.10', 40001, 9000, 'NORMAL');
  a.client.rcvLogged = 1000;
  a.client.rcvAppended = 1200;
  a.sndUna = 500;
  a.sndMax = 700;
  a.delta = 12345;
  a.recoveries = 1;
  const b = makeConn('2001:db8::5', 40002, 9001, 'REPLAYING');
  b.client.rcvLogged = 4096;
  b.client.rcvAppended = 4096;
  b.clientBase = 96;
  b.replayNext = 1096;
  b.recoveries = 2;
  const c = makeConn('192.0.2.9', 40003, 9000, 'RECOVERING');
  c.unprotected = true;
  for (const x of [a, b, c]) table.add(x);
  const wrapper = { conns: table, counters: newWrapperCounters(), appDown: false };
  wrapper.counters.protectedIn = 10;
  wrapper.counters.protectedOut = 20;
  wrapper.counters.malformed = 3;
  wrapper.counters.malformedByReason = { 'truncated-tcp': 2, 'bad-ip-header': 1 };
  wrapper.counters.acksHeld = 4;
  wrapper.counters.recoveries = 5;
  wrapper.counters.recovered = 4;
  wrapper.counters.divergences = 1;
  const relay = { counters: newRelayCounters() };
  relay.counters.inbound.readPackets = 100;
  relay.counters.inbound.readBytes = 150_000;
  relay.counters.outbound.droppedPackets = 2;
  const supervisor = { pid: 4242 as number | undefined, restarts: 2 };
  const logClient = { durableSeq: 90, lastSeq: 97, unacknowledgedBytes: 5000 };
  return {
    source: { cfg: { name: 'web', vip: '10.77.0.2', ports: [9000, 9001] }, wrapper, relay, supervisor, logClient, startedAt: 1_000_000 },
    table,
    wrapper,
    supervisor,
    logClient,
  };
}
