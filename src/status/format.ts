// Human-readable `ftcp status`: a service line, a table of connections, then counters.
import type { ConnStatus, StatusSnapshot } from './snapshot.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function formatDuration(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

function replayText(c: ConnStatus): string {
  if (!c.replay) return '-';
  const { replayed, total } = c.replay;
  const pct = total > 0 ? Math.min(100, Math.floor((replayed / total) * 100)) : 100;
  return `${formatBytes(replayed)}/${formatBytes(total)} (${pct}%)`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

export function formatStatus(s: StatusSnapshot): string {
  const sv = s.service;
  const out: string[] = [];
  const parts = [
    `${sv.name}: vip ${sv.vip} port${sv.ports.length === 1 ? '' : 's'} ${sv.ports.join(',')}`,
    sv.appDown ? 'app DOWN (clients held)' : sv.appPid !== null ? `app pid ${sv.appPid}` : 'app not started',
    `${sv.appRestarts} restart${sv.appRestarts === 1 ? '' : 's'}`,
    sv.log ? `log lag ${sv.log.lag} record${sv.log.lag === 1 ? '' : 's'} (${formatBytes(sv.log.unacknowledgedBytes)} unacknowledged)` : 'no log (pass-through)',
    `daemon pid ${sv.daemonPid}`,
  ];
  if (sv.uptimeSeconds !== null) parts.push(`up ${formatDuration(sv.uptimeSeconds)}`);
  out.push(parts.join(', '));
  const f = sv.failover;
  if (f) {
    const lease = f.role === 'standby' ? `lease ${f.leaseMs} ms (held elsewhere)` : `lease ${f.leaseMs} ms ${f.leaseValid ? 'valid' : 'LAPSED (sending nothing)'}`;
    const pos = f.lag !== null ? `${f.lag} message${f.lag === 1 ? '' : 's'} behind the log` : f.streamSeq !== null ? `log at message ${f.streamSeq}` : '';
    const holder = f.primary ? `primary ${f.primary.host} at epoch ${f.primary.epoch} (lease renewed ${f.primary.leaseAgeMs} ms ago)` : '';
    out.push([`role ${f.role}`, `epoch ${f.epoch}`, lease, holder, pos].filter(Boolean).join(', '));
  }

  const byState = new Map<string, number>();
  for (const c of s.connections) byState.set(c.state, (byState.get(c.state) ?? 0) + 1);
  const summary = [...byState].map(([k, v]) => `${v} ${k}`).join(', ');
  out.push(`${s.connections.length} connection${s.connections.length === 1 ? '' : 's'}${summary ? ` (${summary})` : ''}`);
  if (s.connections.length > 0) {
    const rows = s.connections.map((c) => [
      c.state + (c.unprotected ? '*' : ''),
      c.client,
      `${sv.vip.includes(':') ? `[${sv.vip}]` : sv.vip}:${c.servicePort}`,
      String(c.rcvLogged),
      `${c.sndUna}/${c.sndMax}`,
      String(c.delta),
      String(c.recoveries),
      replayText(c),
    ]);
    for (const l of table(['STATE', 'CLIENT', 'SERVICE', 'RCVLOGGED', 'SNDUNA/SNDMAX', 'DELTA', 'RECOVERIES', 'REPLAY'], rows)) out.push(`  ${l}`);
    if (s.connections.some((c) => c.unprotected)) out.push('  * unprotected: past max_replay_bytes, reset if the app crashes');
  }

  const w = s.counters.wrapper;
  if (w) {
    out.push('wrapper:');
    out.push(
      `  segments in ${w.protectedIn}, out ${w.protectedOut}, passed ${w.passed}; logged ${formatBytes(w.loggedBytes)}; ` +
        `acks held ${w.acksHeld}, synthesized ${w.acksSynthesized}; hold acks ${w.holdAcks}; discarded ${w.discarded}`,
    );
    const reasons = Object.entries(w.malformedByReason)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    out.push(
      `  recoveries ${w.recoveries}, recovered ${w.recovered}, divergences ${w.divergences}, unprotected resets ${w.unprotectedResets}; ` +
        `malformed ${w.malformed}${reasons ? ` (${reasons})` : ''}; log errors ${w.logErrors}`,
    );
    out.push(
      `  shim: close intents ${w.closeIntents} (honoured ${w.closeIntentsHonoured}, unmatched ${w.closeIntentsUnmatched}); ` +
        `sessions lost ${w.shimSessionsLost}; restored from a checkpoint ${w.restoredFromCheckpoint}`,
    );
  }
  const r = s.counters.relay;
  if (r) {
    out.push('relay:');
    for (const [label, d] of [
      ['in ', r.inbound],
      ['out', r.outbound],
    ] as const) {
      out.push(
        `  ${label} read ${d.readPackets} packets (${formatBytes(d.readBytes)}), written ${d.writtenPackets} (${formatBytes(d.writtenBytes)}), dropped ${d.droppedPackets}`,
      );
    }
    out.push(`  errors ${r.errors}`);
  }
  return `${out.join('\n')}\n`;
}
