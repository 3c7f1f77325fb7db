// The daemon's real objects fit the status and metrics inputs (checked by tsc -p tsconfig.test.json;
// the function is never called).
import { describe, expect, it } from 'vitest';
import type { LogClient } from '../../../src/log/client.js';
import { FtcpMetrics } from '../../../src/metrics/metrics.js';
import type { Relay } from '../../../src/relay/relay.js';
import type { RunConfig } from '../../../src/run/run-config.js';
import type { Supervisor } from '../../../src/run/supervisor.js';
import { statusSnapshot, type StatusSource } from '../../../src/status/snapshot.js';
import type { SecondWrapper } from '../../../src/wrapper/second-wrapper.js';
import { LogClientWrapperLog } from '../../../src/wrapper/wrapper-log.js';

function wire(cfg: RunConfig, wrapper: SecondWrapper | undefined, relay: Relay | undefined, sup: Supervisor | undefined, logClient: LogClient | undefined): void {
  const source = (): StatusSource => ({ cfg, wrapper, relay, supervisor: sup, logClient, startedAt: Date.now() });
  statusSnapshot(source());
  const m = new FtcpMetrics(source, { service: cfg.name });
  m.timeAppends(new LogClientWrapperLog(logClient!, undefined));
  m.trackRecoveries(sup);
}

describe('daemon wiring', () => {
  it('type-checks against the real daemon objects', () => {
    expect(typeof wire).toBe('function');
  });
});
