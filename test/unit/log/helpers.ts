// Shared helpers for the log tests: temp dirs and record builders.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Record } from '../../../src/log/gen/ftcp/v1/log.js';

export function tempDir(prefix = 'ftcp-log-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function dataRecord(connId: string, offset: number, data: Buffer): Record {
  return { connId, kind: { $case: 'clientData', value: { offset, data } } };
}

export function openedRecord(connId: string): Record {
  return {
    connId,
    kind: {
      $case: 'opened',
      value: {
        ipVersion: 4,
        client: { addr: Buffer.from([10, 0, 0, 2]), port: 40000 },
        server: { addr: Buffer.from([10, 0, 0, 1]), port: 80 },
        irs: 1000,
        iss0: 2000,
        options: {
          mss: 1460,
          serverMss: 1460,
          clientWindowScale: 7,
          serverWindowScale: 7,
          sackPermitted: true,
          timestamps: true,
          firstTsval: 1,
          firstTsecr: 2,
        },
        clientWindow: 65535,
      },
    },
  };
}

export function closedRecord(connId: string): Record {
  return { connId, kind: { $case: 'closed', value: { reason: 1 } } };
}

/** Deterministic payload bytes for record i. */
export function payload(i: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let k = 0; k < len; k++) b[k] = (i * 31 + k * 7) & 0xff;
  return b;
}
