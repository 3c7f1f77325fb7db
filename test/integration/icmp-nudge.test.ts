// The wrapper's RFC 6069 nudge against a real Linux client: a client whose retransmission timer
// has backed off (its server unreachable) undoes one backoff step per ICMP unreachable error the
// wire library builds, and retransmits once the undone timer has expired. Two namespaces on a
// veth, IPv4 and IPv6; the server's side drops the client's segments (nftables) to make it back off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { ROOT, TestNetns, sleep } from '../helpers/host.js';
import { buildTcpUnreachable } from '../../src/wire/icmp.js';

const APPS = join(ROOT, 'test', 'apps');
let cli: TestNetns;
let srv: TestNetns;
const children: ChildProcess[] = [];

beforeAll(() => {
  cli = TestNetns.create('nudc');
  srv = TestNetns.create('nuds');
  cli.exec('ip', ['link', 'add', 'vc', 'type', 'veth', 'peer', 'name', 'vs', 'netns', srv.name]);
  cli.exec('ip', ['addr', 'add', '10.79.0.1/24', 'dev', 'vc']);
  cli.exec('ip', ['addr', 'add', 'fd00:79::1/64', 'dev', 'vc', 'nodad']);
  srv.exec('ip', ['addr', 'add', '10.79.0.2/24', 'dev', 'vs']);
  srv.exec('ip', ['addr', 'add', 'fd00:79::2/64', 'dev', 'vs', 'nodad']);
  cli.exec('ip', ['link', 'set', 'vc', 'up']);
  srv.exec('ip', ['link', 'set', 'vs', 'up']);
});

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  cli?.destroy();
  srv?.destroy();
});

/** One line of `ss -ti` for the client's connection to port 9000, as fields. */
function clientTcpInfo(): { backoff: number; rto: number; lastsnd: number; retrans: number; port: number } {
  const out = cli.exec('ss', ['-tinH', 'state', 'established', '( dport = :9000 )']);
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
  return {
    backoff: num(/\bbackoff:(\d+)/),
    rto: num(/\brto:(\d+)/),
    lastsnd: num(/\blastsnd:(\d+)/),
    retrans: num(/\bretrans:\d+\/(\d+)/),
    port: num(/^\S+\s+\S+\s+\S*?[:\]](\d+)\s/),
  };
}

/** Waits (bounded) until `ok()` holds. */
async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  for (let t = 0; t < ms; t += 50) {
    if (ok()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const fam of [4, 6] as const) {
  const serverAddr = fam === 4 ? '10.79.0.2' : 'fd00:79::2';
  const clientAddr = fam === 4 ? '10.79.0.1' : 'fd00:79::1';

  describe(`IPv${fam}: an unreachable error undoes a backed-off client's timer`, () => {
    it('one error undoes one backoff step; a burst makes the client retransmit now', async () => {
      // Server: prints every byte it reads.
      const server = srv.spawn('python3', ['-u', '-c', `
import socket
s = socket.socket(socket.AF_INET6 if ":" in "${serverAddr}" else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("${serverAddr}", 9000)); s.listen(); print("listening", flush=True)
c, _ = s.accept()
while True:
    d = c.recv(100)
    if not d: break
    print(d.decode(), flush=True)
`]);
      children.push(server);
      let got = '';
      server.stdout!.on('data', (d: Buffer) => (got += d.toString()));
      await until('the server to listen', () => got.includes('listening'));
      const driver = spawn('ip', ['netns', 'exec', cli.name, 'python3', join(APPS, 'conn_driver.py'), serverAddr, '9000'], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(driver);
      const answers = createInterface({ input: driver.stdout! })[Symbol.asyncIterator]();
      const drive = async (cmd: object): Promise<Record<string, unknown>> => {
        driver.stdin!.write(`${JSON.stringify(cmd)}\n`);
        const r = await answers.next();
        return JSON.parse(String(r.value)) as Record<string, unknown>;
      };
      expect(await drive({ op: 'connect', id: 'A' })).toEqual({ ok: true });
      expect(await drive({ op: 'send', id: 'A', data: 'a' })).toEqual({ ok: true });
      await until('the first byte', () => got.includes('a\n'));

      // The server's host drops the client's segments; tcpdump (before netfilter) sees their seq.
      srv.exec('nft', ['add', 'table', 'inet', 'nudge']);
      srv.exec('nft', ['add', 'chain', 'inet', 'nudge', 'pre', '{ type filter hook prerouting priority -300 ; }']);
      srv.exec('nft', ['add', 'rule', 'inet', 'nudge', 'pre', 'tcp', 'dport', '9000', 'drop']);
      const dump = srv.spawn('timeout', ['20', 'tcpdump', '-l', '-n', '-S', '-i', 'vs', 'tcp dst port 9000']);
      children.push(dump);
      let dumped = '';
      dump.stdout!.on('data', (d: Buffer) => (dumped += d.toString()));
      await sleep(300); // tcpdump attached
      expect(await drive({ op: 'send', id: 'A', data: 'b' })).toEqual({ ok: true });
      // Backed off three times (0.2 + 0.4 + 0.8 s), with room before its next retransmission.
      await until('the client to back off', () => {
        const i = clientTcpInfo();
        return i.backoff >= 3 && i.rto - i.lastsnd >= 600;
      });
      const seq = Number(/seq (\d+):\d+/.exec(dumped)?.[1]);
      expect(Number.isInteger(seq)).toBe(true);
      srv.exec('nft', ['delete', 'table', 'inet', 'nudge']);

      const before = clientTcpInfo();
      const icmp = buildTcpUnreachable({
        reporter: serverAddr,
        quoted: { src: clientAddr, dst: serverAddr, srcPort: before.port, dstPort: 9000, seq },
      }).toString('hex');
      srv.exec('python3', [join(APPS, 'raw_send.py'), clientAddr, icmp]);
      const one = clientTcpInfo();
      expect(one.backoff).toBe(before.backoff - 1);
      expect(one.retrans).toBe(before.retrans); // its timer is not due yet: nothing resent
      expect(got).not.toContain('b\n');

      srv.exec('python3', [join(APPS, 'raw_send.py'), clientAddr, ...Array<string>(8).fill(icmp)]);
      await until('the held byte to arrive', () => got.includes('b\n'), 5_000);
      // The one retransmission the errors caused (its own timer was still hundreds of ms away).
      expect(clientTcpInfo().retrans).toBe(before.retrans + 1);
      driver.kill('SIGKILL');
      server.kill('SIGKILL');
      dump.kill('SIGKILL');
    }, 40_000);
  });
}
