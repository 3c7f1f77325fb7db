// `ftcp decode` against tshark on real Linux TCP traffic: loopback and a veth pair between two test
// namespaces, options varied with sysctls, losses (for SACK blocks) made with an nftables drop rule,
// captured by tcpdump (Ethernet, SLL, SLL2, µs/ns pcap), dumpcap (multi-interface pcapng) and on TUN
// devices (raw IP). Every TCP packet is compared field by field with tshark's `-T fields` output.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecodedTcp, DecodeLine } from '../../src/pcap/decode-format.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { buildSyn } from '../../src/wire/builder.js';
import { compareWithTshark, expectedFromTshark, tsharkFieldText } from '../unit/pcap/tshark.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'dist/cli/main.js');
const TAG = `ftcpt-${process.pid}`;
const NS_LO = `${TAG}-dlo`;
const NS_A = `${TAG}-da`; // server
const NS_B = `${TAG}-db`; // client
const tmp = mkdtempSync(join(tmpdir(), 'ftcp-decode-'));
const children = new Set<ChildProcess>();

const PEER_PY = String.raw`
import socket, sys, time
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
if mode == 'srv':
    s = socket.socket(fam)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(16)
    print('ready', flush=True)
    while True:
        c, _ = s.accept()
        buf = b''
        while not buf.endswith(b'\n'):
            d = c.recv(64)
            if not d: break
            buf += d
        c.sendall(b'x' * int(buf or b'0'))
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536): pass
        c.close()
else:
    size = int(sys.argv[4])
    deadline = time.time() + 10
    while True:
        try:
            c = socket.create_connection((addr, port), timeout=10); break
        except OSError:
            if time.time() > deadline: raise
            time.sleep(0.1)
    c.sendall(b'%d\n' % size)
    got = 0
    while True:
        d = c.recv(65536)
        if not d: break
        got += len(d)
    c.close()
    assert got == size, (got, size)
`;

// Relays raw IP packets between a TUN device in each namespace: a raw-IP (link type 101) path.
const TUN_RELAY_PY = String.raw`
import ctypes, fcntl, os, select, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def open_tun(ns, name):
    fd = os.open('/var/run/netns/' + ns, os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0: raise OSError(ctypes.get_errno(), 'setns')
    os.close(fd)
    t = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(t, 0x400454ca, struct.pack('16sH', name.encode(), 0x0001 | 0x1000))
    return t
a = open_tun(sys.argv[1], sys.argv[2]); b = open_tun(sys.argv[3], sys.argv[4])
print('ready', flush=True)
while True:
    r, _, _ = select.select([a, b], [], [])
    for fd in r:
        pkt = os.read(fd, 65536)
        try:
            os.write(b if fd == a else a, pkt)
        except OSError:
            pass  # the other side is not up yet

`;

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}
function inNs(ns: string, cmd: string, ...args: string[]): string {
  return run('ip', ['netns', 'exec', ns, cmd, ...args]);
}

/** Start a long-running process and wait until its output matches `ready`. */
function startProc(args: string[], ready: RegExp): Promise<ChildProcess> {
  const p = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(p);
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} not ready: ${seen}`)), 15_000);
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (ready.test(seen)) {
        clearTimeout(timer);
        resolve(p);
      }
    };
    p.stdout!.on('data', onData);
    p.stderr!.on('data', onData);
    p.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited ${code}: ${seen}`));
    });
  });
}

async function stopProc(p: ChildProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) {
    children.delete(p);
    return;
  }
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill(signal);
  const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
  await done;
  clearTimeout(t);
  children.delete(p);
}

function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 1500));
}

function capture(ns: string, file: string, ...args: string[]): Promise<ChildProcess> {
  // Immediate mode: without it packets wait in the TPACKET_V3 ring for the block timeout and a
  // stopped tcpdump can leave the last ones unwritten.
  return startProc(
    ['ip', 'netns', 'exec', ns, 'tcpdump', '-n', '-U', '--immediate-mode', '-B', '65536', '-w', file, ...args, 'tcp'],
    /listening on/,
  );
}

function client(ns: string, addr: string, port: number, size: number): void {
  inNs(ns, 'python3', join(tmp, 'peer.py'), 'cli', addr, String(port), String(size));
}

function decode(file: string, json = true): { code: number; lines: string[]; stderr: string } {
  const r = spawnSync('node', [MAIN, 'decode', ...(json ? ['--json'] : []), file], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, lines: r.stdout.split('\n').filter((l) => l !== ''), stderr: r.stderr };
}

/** Decode with ftcp and with tshark; they must agree on every TCP packet. */
function decodeLikeTshark(file: string): DecodedTcp[] {
  const r = decode(file);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const actual = r.lines.map((l) => JSON.parse(l) as DecodeLine);
  const errors = actual.filter((d) => 'error' in d);
  expect(errors).toEqual([]);
  const tcp = actual as DecodedTcp[];
  compareWithTshark(tcp, expectedFromTshark(tsharkFieldText(file)));
  expect(tcp.length).toBeGreaterThan(0);
  return tcp;
}

const syns = (pkts: DecodedTcp[], dport: number): DecodedTcp[] => pkts.filter((p) => p.flags === 2 && p.dport === dport);

beforeAll(() => {
  // Other modules may not typecheck yet; tsc still emits ours, and main.js must load.
  spawnSync('npm', ['run', 'build:ts'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 });
  if (!existsSync(MAIN)) throw new Error('dist/cli/main.js missing after npm run build:ts');
  writeFileSync(join(tmp, 'peer.py'), PEER_PY);
  writeFileSync(join(tmp, 'tun_relay.py'), TUN_RELAY_PY);
});

afterAll(async () => {
  for (const p of [...children]) await stopProc(p, 'SIGKILL');
  for (const ns of [NS_LO, NS_A, NS_B]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  if (!process.env.FTCP_TEST_KEEP) rmSync(tmp, { recursive: true, force: true });
});

describe('ftcp decode on the command line', () => {
  it('refuses a file that is not a capture with one line and exit code 2', () => {
    const f = join(tmp, 'not-a-capture.txt');
    writeFileSync(f, 'hello\n');
    const r = decode(f);
    expect(r.code).toBe(2);
    expect(r.lines).toEqual([]);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const missing = decode(join(tmp, 'missing.pcap'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/ENOENT/);
  });

  it('prints error objects for malformed packets and keeps going', () => {
    const syn = buildSyn({ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, seq: 3, mss: 1460 });
    const w = new PcapngWriter();
    w.addInterface({ linkType: 101 });
    w.addPacket({ interfaceId: 0, ts: 1, data: syn.subarray(0, 25) });
    w.addPacket({ interfaceId: 0, ts: 2, data: syn, comment: 'store: syn' });
    const f = join(tmp, 'malformed.pcapng');
    writeFileSync(f, w.toBuffer());
    const r = decode(f);
    expect(r.code).toBe(0);
    expect(r.lines.map((l) => JSON.parse(l))).toEqual([
      { ts: 1, error: 'truncated-tcp' },
      { ts: 2, src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, seq: 3, ack: 0, flags: 2, win: 0, len: 0, mss: 1460, comment: 'store: syn' },
    ]);
    const human = decode(f, false);
    expect(human.lines).toHaveLength(2);
    expect(human.lines[1]).toMatch(/10\.0\.0\.1:1 > 10\.0\.0\.2:2: Flags \[S\], seq 3, .*mss 1460.*# store: syn/);
  });
});

describe('real Linux TCP traffic, checked against tshark', () => {
  it('loopback: IPv4 and IPv6, µs and ns pcap, pcapng with comments', async () => {
    run('ip', ['netns', 'add', NS_LO]);
    inNs(NS_LO, 'ip', 'link', 'set', 'lo', 'up');
    const us = join(tmp, 'lo.pcap');
    const ns = join(tmp, 'lo-ns.pcap');
    const c1 = await capture(NS_LO, us, '-i', 'lo');
    const c2 = await capture(NS_LO, ns, '-i', 'lo', '--time-stamp-precision', 'nano');
    const s4 = await startProc(['ip', 'netns', 'exec', NS_LO, 'python3', join(tmp, 'peer.py'), 'srv', '127.0.0.1', '9000'], /ready/);
    const s6 = await startProc(['ip', 'netns', 'exec', NS_LO, 'python3', join(tmp, 'peer.py'), 'srv', '::1', '9001'], /ready/);
    client(NS_LO, '127.0.0.1', 9000, 200_000);
    client(NS_LO, '::1', 9001, 5000);
    await stopProc(s4, 'SIGKILL');
    await stopProc(s6, 'SIGKILL');
    await stopProc(c1);
    await stopProc(c2);

    const pkts = decodeLikeTshark(us);
    const nsPkts = decodeLikeTshark(ns);
    expect(nsPkts.length).toBe(pkts.length);
    const syn4 = syns(pkts, 9000)[0]!;
    expect(syn4).toMatchObject({ src: '127.0.0.1', mss: 65495, sackPermitted: true });
    expect(syn4.wscale).toBeGreaterThanOrEqual(0);
    expect(syn4.tsval).toBeGreaterThan(0);
    expect(syns(pkts, 9001)[0]).toMatchObject({ src: '::1', dst: '::1' });

    const ng = join(tmp, 'lo.pcapng');
    run('editcap', ['-F', 'pcapng', '-a', '1:store: syn', '-a', '4:delay: ack held', us, ng]);
    const withComments = decodeLikeTshark(ng);
    expect(withComments[0]!.comment).toBe('store: syn');
    expect(withComments[3]!.comment).toBe('delay: ack held');
    expect(withComments.filter((p) => p.comment !== undefined)).toHaveLength(2);
  });

  it('veth between two namespaces: sysctl variants, losses with SACK, Ethernet/SLL/SLL2/pcapng/raw IP', async () => {
    run('ip', ['netns', 'add', NS_A]);
    run('ip', ['netns', 'add', NS_B]);
    run('ip', ['link', 'add', 'dva', 'netns', NS_A, 'type', 'veth', 'peer', 'name', 'dvb', 'netns', NS_B]);
    for (const [ns, dev, v4, v6] of [
      [NS_A, 'dva', '10.77.0.1/24', 'fd77::1/64'],
      [NS_B, 'dvb', '10.77.0.2/24', 'fd77::2/64'],
    ] as const) {
      inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
      inNs(ns, 'ip', 'addr', 'add', v4, 'dev', dev);
      inNs(ns, 'ip', '-6', 'addr', 'add', v6, 'dev', dev, 'nodad');
      inNs(ns, 'ip', 'link', 'set', dev, 'up');
    }
    // One MSS per packet on the server's side (no TSO super-packets), so drops leave holes to SACK.
    inNs(NS_A, 'ip', 'link', 'set', 'dva', 'gso_max_segs', '1');
    const relay = await startProc(['python3', join(tmp, 'tun_relay.py'), NS_A, 'dta', NS_B, 'dtb'], /ready/);
    inNs(NS_A, 'ip', 'addr', 'add', '10.78.0.1', 'peer', '10.78.0.2', 'dev', 'dta');
    inNs(NS_B, 'ip', 'addr', 'add', '10.78.0.2', 'peer', '10.78.0.1', 'dev', 'dtb');
    inNs(NS_A, 'ip', 'link', 'set', 'dta', 'up');
    inNs(NS_B, 'ip', 'link', 'set', 'dtb', 'up');

    const f = {
      eth: join(tmp, 'veth.pcap'),
      sll: join(tmp, 'any-sll.pcap'),
      sll2: join(tmp, 'any-sll2.pcap'),
      raw: join(tmp, 'tun-raw.pcap'),
      multi: join(tmp, 'multi.pcapng'),
    };
    const caps = [
      await capture(NS_B, f.eth, '-i', 'dvb'),
      await capture(NS_B, f.sll, '-i', 'any', '-y', 'LINUX_SLL'),
      await capture(NS_B, f.sll2, '-i', 'any', '-y', 'LINUX_SLL2'),
      await capture(NS_A, f.raw, '-i', 'dta'),
      await startProc(['ip', 'netns', 'exec', NS_A, 'dumpcap', '-B', '32', '-i', 'dva', '-i', 'dta', '-f', 'tcp', '-w', f.multi], /Capturing on/),
    ];
    const srv4 = await startProc(['ip', 'netns', 'exec', NS_A, 'python3', join(tmp, 'peer.py'), 'srv', '0.0.0.0', '9000'], /ready/);
    const srv6 = await startProc(['ip', 'netns', 'exec', NS_A, 'python3', join(tmp, 'peer.py'), 'srv', '::', '9001'], /ready/);

    const sysctl = (kv: string): string => inNs(NS_B, 'sysctl', '-qw', kv);
    client(NS_B, '10.77.0.1', 9000, 300_000); // defaults
    sysctl('net.ipv4.tcp_timestamps=0');
    client(NS_B, '10.77.0.1', 9000, 100_000);
    sysctl('net.ipv4.tcp_timestamps=1');
    sysctl('net.ipv4.tcp_sack=0');
    client(NS_B, '10.77.0.1', 9000, 100_000);
    sysctl('net.ipv4.tcp_sack=1');
    sysctl('net.ipv4.tcp_window_scaling=0');
    client(NS_B, 'fd77::1', 9001, 100_000);
    sysctl('net.ipv4.tcp_window_scaling=1');
    // Drop the 1st and 3rd of every 20 full-sized server segments on arrival (after the capture
    // point): two holes at once, so the client SACKs with two blocks (random drops made that
    // likely only: one CI run saw single holes only).
    inNs(NS_B, 'nft', 'add', 'table', 'inet', 'ftcpt');
    inNs(NS_B, 'nft', 'add', 'chain', 'inet', 'ftcpt', 'in', '{ type filter hook input priority 0; }');
    inNs(NS_B, 'nft', 'add', 'rule', 'inet', 'ftcpt', 'in', 'tcp', 'sport', '9000', 'meta', 'length', '>', '1000', 'numgen', 'inc', 'mod', '20', '{ 0, 2 }', 'drop');
    client(NS_B, '10.77.0.1', 9000, 3_000_000);
    inNs(NS_B, 'nft', 'delete', 'table', 'inet', 'ftcpt');
    client(NS_B, '10.78.0.1', 9000, 50_000); // over the TUN pair

    await stopProc(srv4, 'SIGKILL');
    await stopProc(srv6, 'SIGKILL');
    await settle(); // dumpcap has no immediate mode: let its last ring block be handed over
    for (const c of caps) await stopProc(c);
    await stopProc(relay, 'SIGKILL');

    const eth = decodeLikeTshark(f.eth);
    const ss = syns(eth, 9000).concat(syns(eth, 9001)).sort((a, b) => a.ts! - b.ts!);
    expect(ss).toHaveLength(5);
    expect(ss[0]).toMatchObject({ sackPermitted: true, mss: 1460 });
    expect(ss[0]!.tsval).toBeDefined();
    expect(ss[0]!.wscale).toBeDefined();
    expect(ss[1]!.tsval).toBeUndefined(); // timestamps off
    expect(ss[1]!.sackPermitted).toBe(true);
    expect(ss[2]!.sackPermitted).toBeUndefined(); // SACK off
    expect(ss[2]!.tsval).toBeDefined();
    expect(ss[3]).toMatchObject({ src: 'fd77::2', dst: 'fd77::1', mss: 1440 }); // window scaling off
    expect(ss[3]!.wscale).toBeUndefined();
    const sacks = eth.filter((p) => p.sack !== undefined);
    expect(sacks.length).toBeGreaterThan(0);
    expect(sacks.some((p) => p.sack!.length >= 2)).toBe(true);
    // SACKs come from the receiver of the dropped data; the sender may add a D-SACK of its own
    // when a retransmission crosses a late original, so only the block counts are universal.
    expect(sacks.some((p) => p.src === '10.77.0.2')).toBe(true);
    expect(sacks.every((p) => p.sack!.length >= 1 && p.sack!.length <= 4)).toBe(true);

    for (const file of [f.sll, f.sll2]) {
      const pkts = decodeLikeTshark(file);
      // -i any sees the veth and the TUN path: all six handshakes (bulk segments may be dropped
      // by the capture under load, which is not what this test is about).
      expect(syns(pkts, 9000).length + syns(pkts, 9001).length).toBe(6);
    }
    const raw = decodeLikeTshark(f.raw);
    expect(syns(raw, 9000)).toHaveLength(1);
    expect(raw.every((p) => p.src.startsWith('10.78.') && p.dst.startsWith('10.78.'))).toBe(true);
    const multi = decodeLikeTshark(f.multi);
    // Both interfaces (Ethernet veth and raw-IP TUN) are in the one file; dumpcap may drop under load.
    expect(multi.some((p) => p.src.startsWith('10.77.'))).toBe(true);
    expect(multi.some((p) => p.src.startsWith('10.78.'))).toBe(true);
    expect(run('capinfos', ['-M', f.multi])).toMatch(/Number of interfaces in file: 2/);
  });
});
