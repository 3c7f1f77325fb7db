// `ftcp logd` as a real process on the real disk: kill -9 mid-stream and restart, the command
// line, malformed requests, tokens and TLS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogClient, type ReadItem } from '../../src/log/client.js';
import { AppendRequest, CheckpointRequest, LogService, ReadRequest, Record } from '../../src/log/gen/ftcp/v1/log.js';
import { dataRecord, openedRecord, payload } from '../unit/log/helpers.js';
import { ensureBuilt, killAllLogd, runLogdSync, startLogd } from '../unit/log/logd-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'ftcp-logd-it-'));
const clients: LogClient[] = [];

beforeAll(() => ensureBuilt(), 300_000);
afterAll(async () => {
  for (const c of clients) await c.close(500).catch(() => {});
  killAllLogd();
  rmSync(tmp, { recursive: true, force: true });
});

function dir(name: string): string {
  const d = join(tmp, name);
  return d;
}

function client(target: string, extra: Partial<ConstructorParameters<typeof LogClient>[0]> = {}): LogClient {
  const c = new LogClient({ target, service: 'svc', reconnectMaxMs: 200, ...extra });
  clients.push(c);
  return c;
}

async function readAll(c: LogClient, q: Parameters<LogClient['read']>[0] = {}): Promise<ReadItem[]> {
  const out: ReadItem[] = [];
  for await (const x of c.read(q)) out.push(x);
  return out;
}

function sizeOf(i: number): number {
  return 1 + ((i * 7919) % 3000);
}

describe('ftcp logd process', () => {
  it('loses no acknowledged record and duplicates none across kill -9 and restart', async () => {
    const d = dir('kill9');
    const sock = `unix:${d}/logd.sock`;
    let logd = await startLogd(['--data-dir', d, '--listen', sock]);
    const c = client(sock, { highWaterBytes: 1 << 20 });
    const N = 12_000;
    const KILL_AT = 3_000;
    let ackedAtKill = -1;
    let restarted: Promise<void> | undefined;
    let off = 0;
    for (let i = 1; i <= N; i++) {
      const p = payload(i, sizeOf(i));
      expect(c.append(dataRecord('k', off, p))).toBe(i);
      off += p.length;
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      if (!c.writable) await new Promise((r) => c.once('drain', r));
      if (ackedAtKill < 0 && c.durableSeq >= KILL_AT) {
        logd.proc.kill('SIGKILL');
        await logd.exited;
        ackedAtKill = c.durableSeq;
        // Restart while the client keeps appending into its queue.
        restarted = (async () => {
          await new Promise((r) => setTimeout(r, 300));
          logd = await startLogd(['--data-dir', d, '--listen', sock]);
        })();
      }
    }
    expect(ackedAtKill).toBeGreaterThanOrEqual(KILL_AT);
    await restarted;
    // Everything acknowledged before the kill is there right after the restart.
    const reader = client(sock, { service: 'svc' });
    const early = await readAll(reader, { skipCheckpoint: true });
    const earlySeqs = new Set(early.map((x) => (x.type === 'record' ? x.seq : -1)));
    for (let s = 1; s <= ackedAtKill; s++) if (!earlySeqs.has(s)) throw new Error(`acknowledged seq ${s} lost`);
    await c.waitDurable(N);
    const all = await readAll(reader, { skipCheckpoint: true });
    expect(all.length).toBe(N);
    let expectOff = 0;
    all.forEach((x, k) => {
      if (x.type !== 'record' || x.record.kind?.$case !== 'clientData') throw new Error('unexpected item');
      expect(x.seq).toBe(k + 1);
      expect(x.streamId).toBe(c.streamId);
      expect(x.record.kind.value.offset).toBe(expectOff);
      const want = payload(k + 1, sizeOf(k + 1));
      if (Buffer.compare(x.record.kind.value.data, want) !== 0) throw new Error(`seq ${k + 1}: bytes differ`);
      expectOff += want.length;
    });
    const st = await reader.stats('svc');
    expect(st.records).toBe(N);
    logd.proc.kill('SIGTERM');
    expect(await logd.exited).toBe(0);
  });

  it('cuts a truncated and a byte-flipped segment tail on restart, logs and counts it', async () => {
    const d = dir('torn');
    const sock = `unix:${d}/logd.sock`;
    let logd = await startLogd(['--data-dir', d, '--segment-mb', '1']);
    const c = client(sock, { inProcess: false });
    for (let i = 1; i <= 600; i++) {
      c.append(dataRecord('t', (i - 1) * 4000, payload(i, 4000)));
      if (i % 50 === 0) await c.waitDurable(); // commits of ~200 KB: several 1 MiB segments
    }
    await c.close();
    logd.proc.kill('SIGTERM');
    expect(await logd.exited).toBe(0);
    const segs = readdirSync(join(d, 'segments')).sort().map((f) => join(d, 'segments', f));
    expect(segs.length).toBeGreaterThanOrEqual(3);
    // Flip one byte in the middle of the first segment, cut the last one mid-record.
    const first = readFileSync(segs[0]!);
    const mid = Math.floor(first.length / 2);
    first[mid] = first[mid]! ^ 0xff;
    writeFileSync(segs[0]!, first);
    truncateSync(segs.at(-1)!, statSync(segs.at(-1)!).size - 1000);
    logd = await startLogd(['--data-dir', d, '--segment-mb', '1']);
    const cuts = logd
      .stderr()
      .split('\n')
      .filter((l) => l.includes('cut a torn or corrupt segment tail'))
      .map((l) => JSON.parse(l) as { reason: string });
    expect(cuts.map((x) => x.reason).sort()).toEqual(['crc mismatch', 'torn frame']);
    const r = client(sock);
    expect((await r.stats('svc')).tornTailsCut).toBe(2);
    const seqs: number[] = [];
    for await (const x of r.read({ skipCheckpoint: true })) {
      if (x.type !== 'record' || x.record.kind?.$case !== 'clientData') throw new Error('unexpected item');
      if (Buffer.compare(x.record.kind.value.data, payload(x.seq, 4000)) !== 0) throw new Error(`seq ${x.seq}: bytes differ`);
      seqs.push(x.seq);
    }
    // What survives is intact, in order, without duplicates; the cut records are gone.
    expect(seqs.length).toBeLessThan(600);
    expect(seqs.length).toBeGreaterThan(100);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    logd.proc.kill('SIGTERM');
    expect(await logd.exited).toBe(0);
  });

  it('serves a unix socket with mode 0660, exits 0 on SIGTERM and refuses a second instance', async () => {
    const d = dir('cli');
    const logd = await startLogd(['--data-dir', d]);
    expect(logd.listen).toEqual([`unix:${d}/logd.sock`]);
    expect(statSync(join(d, 'logd.sock')).mode & 0o777).toBe(0o660);
    const second = runLogdSync(['--data-dir', d, '--listen', `unix:${d}/other.sock`]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/in use by process/);
    logd.proc.kill('SIGTERM');
    expect(await logd.exited).toBe(0);
    expect(() => statSync(join(d, 'logd.sock'))).toThrow();
  });

  it('rejects bad flags with one line naming the fix and exit code 2', () => {
    const d = dir('flags');
    const cases: [string[], RegExp][] = [
      [['--data-dir', d, '--listen', '0.0.0.0:7000'], /not loopback: add --tls-cert\/--tls-key or --token-file/],
      [['--data-dir', d, '--durability', 'sometimes'], /Allowed choices are fsync, memory/],
      [['--data-dir', d, '--listen', 'unix:relative.sock'], /must be absolute/],
      [['--data-dir', d, '--tls-cert', '/nonexistent.pem'], /--tls-cert and --tls-key go together/],
      [['--data-dir', d, '--token-file', '/nonexistent-token'], /--token-file \/nonexistent-token: cannot read/],
      [['--listen', 'unix:/tmp/x.sock'], /--data-dir/],
    ];
    for (const [args, msg] of cases) {
      const r = runLogdSync(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n').length).toBe(1);
    }
  });

  it('answers malformed requests with INVALID_ARGUMENT and keeps serving', async () => {
    const d = dir('malformed');
    const logd = await startLogd(['--data-dir', d, '--durability', 'memory']);
    const target = logd.listen[0]!;
    const raw = new grpc.Client(target, grpc.credentials.createInsecure());
    const appendRaw = (bytes: Buffer): Promise<grpc.ServiceError> =>
      new Promise((resolve) => {
        const call = raw.makeBidiStreamRequest(LogService.append.path, (b: Buffer) => b, (b: Buffer) => b);
        call.on('data', () => {});
        call.on('error', (e: grpc.ServiceError) => resolve(e));
        call.write(bytes);
      });
    const req = (r: Partial<AppendRequest>): Buffer =>
      Buffer.from(AppendRequest.encode({ service: { name: 's', epoch: 0 }, streamId: 'w', firstSeq: 1, records: [], ...r }).finish());
    const good = Buffer.from(Record.encode(openedRecord('c')).finish());
    const cases: [Buffer, RegExp][] = [
      [Buffer.from([0xff, 0xff, 0xff]), /not a valid ftcp.v1.AppendRequest/],
      [req({ service: undefined, records: [good] }), /service is missing/],
      [req({ streamId: '', records: [good] }), /stream_id is empty/],
      [req({ firstSeq: 0, records: [good] }), /first_seq/],
      [req({ records: [Buffer.from(Record.encode({ connId: 'c', kind: undefined }).finish())] }), /no known record kind/],
      [req({ records: [good, Buffer.from([0x0a, 0x05, 0x41])] }), /record 1: not a valid ftcp.v1.Record/],
      [req({ records: [Buffer.from(Record.encode(dataRecord('c', 0, Buffer.alloc(0))).finish())] }), /client_data.data is empty/],
    ];
    for (const [bytes, msg] of cases) {
      const e = await appendRaw(bytes);
      expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(e.details).toMatch(msg);
    }
    const readErr = await new Promise<grpc.ServiceError>((resolve) => {
      const call = raw.makeServerStreamRequest(LogService.read.path, LogService.read.requestSerialize, LogService.read.responseDeserialize, ReadRequest.fromPartial({}));
      call.on('data', () => {});
      call.on('error', resolve);
    });
    expect(readErr.code).toBe(grpc.status.INVALID_ARGUMENT);
    const ckptErr = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        LogService.checkpoint.path,
        LogService.checkpoint.requestSerialize,
        LogService.checkpoint.responseDeserialize,
        CheckpointRequest.fromPartial({ service: { name: 's' }, positions: [{ connId: 'a' }, { connId: 'a' }] }),
        (e) => resolve(e),
      ),
    );
    expect(ckptErr?.code).toBe(grpc.status.INVALID_ARGUMENT);
    raw.close();
    // Still serving.
    const c = client(target);
    c.append(openedRecord('x'));
    await c.waitDurable();
    logd.proc.kill('SIGTERM');
    expect(await logd.exited).toBe(0);
  });

  it('requires the token from --token-file: missing or wrong gets UNAUTHENTICATED', async () => {
    const d = dir('token');
    const tokenFile = join(tmp, 'token.txt');
    writeFileSync(tokenFile, 'correct-horse-battery-staple\n', { mode: 0o600 });
    const logd = await startLogd(['--data-dir', d, '--listen', '127.0.0.1:0', '--token-file', tokenFile]);
    const target = logd.listen[0]!;
    expect(target).toMatch(/^127\.0\.0\.1:\d+$/);
    for (const token of [undefined, 'wrong-token-wrong-token']) {
      const c = client(target, token === undefined ? {} : { token });
      c.append(openedRecord('a'));
      const err = (await c.waitDurable().then(
        () => undefined,
        (e: unknown) => e,
      )) as grpc.ServiceError | undefined;
      expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
      await expect(c.stats()).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    }
    const ok = client(target, { token: 'correct-horse-battery-staple' });
    ok.append(openedRecord('a'));
    await ok.waitDurable();
    expect((await ok.stats('svc')).records).toBe(1);
    logd.proc.kill('SIGTERM');
    expect(await logd.exited).toBe(0);
  });

  it('serves TLS (and mutual TLS with --tls-ca) with a certificate made by openssl', async (ctx) => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      ctx.skip(); // openssl not installed: TLS cannot be exercised
      return;
    }
    const t = join(tmp, 'tls');
    execFileSync('mkdir', ['-p', t]);
    const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: t, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ossl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=ftcp-test-ca', '-days', '1']);
    writeFileSync(join(t, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    for (const who of ['srv', 'cli']) {
      ossl(['req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'srv' ? 'localhost' : 'ftcp-client'}`]);
      ossl(['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '1', '-extfile', 'san.ext']);
    }
    const f = (n: string) => join(t, n);
    const ca = readFileSync(f('ca.crt'));
    // Server TLS only.
    let logd = await startLogd(['--data-dir', dir('tls1'), '--listen', '127.0.0.1:0', '--tls-cert', f('srv.crt'), '--tls-key', f('srv.key')]);
    let target = logd.listen[0]!;
    const tlsClient = client(target, { tls: { ca } });
    tlsClient.append(openedRecord('a'));
    await tlsClient.waitDurable();
    const plain = client(target);
    await expect(plain.stats()).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    logd.proc.kill('SIGTERM');
    expect(await logd.exited).toBe(0);
    // Mutual TLS: a client certificate signed by --tls-ca is required.
    logd = await startLogd([
      '--data-dir', dir('tls2'), '--listen', '127.0.0.1:0',
      '--tls-cert', f('srv.crt'), '--tls-key', f('srv.key'), '--tls-ca', f('ca.crt'),
    ]);
    target = logd.listen[0]!;
    const noCert = client(target, { tls: { ca } });
    await expect(noCert.stats()).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    const withCert = client(target, { tls: { ca, cert: readFileSync(f('cli.crt')), key: readFileSync(f('cli.key')) } });
    withCert.append(openedRecord('b'));
    await withCert.waitDurable();
    expect((await withCert.stats()).records).toBe(1);
    logd.proc.kill('SIGTERM');
    expect(await logd.exited).toBe(0);
  });
});
