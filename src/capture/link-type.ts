// The `cap` binding names the link type of an open device with a string; pcapng wants the number.
import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_NULL, LINKTYPE_RAW } from '../pcap/link.js';

const BY_NAME: Record<string, number> = {
  NULL: LINKTYPE_NULL,
  ETHERNET: LINKTYPE_ETHERNET,
  IEEE802_11_RADIO: 127,
  LINKTYPE_LINUX_SLL: LINKTYPE_LINUX_SLL,
  RAW: LINKTYPE_RAW,
};

/** DLT values that differ from their LINKTYPE number (libpcap's pcap-common.c); the rest are equal. */
const DLT_TO_LINKTYPE: Record<number, number> = { 12: LINKTYPE_RAW, 14: LINKTYPE_RAW };

/** LINKTYPE number for cap's name ("ETHERNET", or "Unknown linktype 276"), or undefined. */
export function linkTypeFromCapName(name: string): number | undefined {
  const known = BY_NAME[name];
  if (known !== undefined) return known;
  const m = /^Unknown linktype (\d+)$/.exec(name);
  if (!m) return undefined;
  const dlt = Number(m[1]);
  return DLT_TO_LINKTYPE[dlt] ?? dlt;
}
