// Plain-number counters of the relay, per direction (read by metrics and tests).
import type { Direction } from './packet-path.js';

export interface DirectionCounters {
  /** Read from the source device. */
  readPackets: number;
  readBytes: number;
  readBatches: number;
  /** Accepted by the destination device's write(). */
  writtenPackets: number;
  writtenBytes: number;
  /** Sent by the path but not written (EAGAIN or refused by the kernel). */
  droppedPackets: number;
}

export interface RelayCounters {
  inbound: DirectionCounters;
  outbound: DirectionCounters;
  /** Reader failures of either device and exceptions thrown by the path. */
  errors: number;
}

export function newDirectionCounters(): DirectionCounters {
  return { readPackets: 0, readBytes: 0, readBatches: 0, writtenPackets: 0, writtenBytes: 0, droppedPackets: 0 };
}

export function newRelayCounters(): RelayCounters {
  return { inbound: newDirectionCounters(), outbound: newDirectionCounters(), errors: 0 };
}

export function countersOf(counters: RelayCounters, direction: Direction): DirectionCounters {
  return direction === 'inbound' ? counters.inbound : counters.outbound;
}
