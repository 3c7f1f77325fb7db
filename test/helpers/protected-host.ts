// A test "host" namespace with `ftcp run` instances protecting apps in it: starts them with a
// private data directory each and removes everything (daemons, namespaces, data) in cleanup().
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestNetns, netnsExists, sh, startFtcp, stopFtcp, type FtcpRunHandle } from './host.js';

export class ProtectedHost {
  readonly running: FtcpRunHandle[] = [];
  private readonly names: string[] = [];

  private constructor(
    readonly host: TestNetns,
    readonly dataDir: string,
  ) {}

  static create(tag: string): ProtectedHost {
    return new ProtectedHost(TestNetns.create(tag), mkdtempSync(join(tmpdir(), `ftcp-${tag}-`)));
  }

  /** `ftcp run --name NAME --vip VIP --port 9000 --data-dir … -- APP…`, ready when it returns. */
  async protect(name: string, vip: string, app: string[], extra: string[] = []): Promise<FtcpRunHandle> {
    this.names.push(name);
    const h = await startFtcp(this.host, ['run', '--name', name, '--vip', vip, '--port', '9000', '--data-dir', join(this.dataDir, name), ...extra, '--', ...app]);
    this.running.push(h);
    return h;
  }

  async cleanup(): Promise<void> {
    for (const h of this.running) await stopFtcp(h);
    this.host.destroy();
    for (const n of this.names) if (netnsExists(`ftcp-${n}`)) sh('ip', ['netns', 'del', `ftcp-${n}`]);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
