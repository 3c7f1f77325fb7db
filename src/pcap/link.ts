// Link-layer headers in captures: find the IP packet inside a frame.

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;
/** DLT_RAW as some systems number it in files (OpenBSD 14, others 12). */
const LINKTYPE_RAW_ALT12 = 12;
const LINKTYPE_RAW_ALT14 = 14;

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;
const ETH_QINQ_OLD = 0x9100;

/** Where the IP packet starts in a frame, or why there is none. */
export type LinkResult = { ok: true; off: number } | { ok: false; error: 'truncated-link' | 'unsupported-linktype' | 'not-ip' };

export function isSupportedLinkType(lt: number): boolean {
  return (
    lt === LINKTYPE_NULL ||
    lt === LINKTYPE_ETHERNET ||
    lt === LINKTYPE_RAW ||
    lt === LINKTYPE_RAW_ALT12 ||
    lt === LINKTYPE_RAW_ALT14 ||
    lt === LINKTYPE_LINUX_SLL ||
    lt === LINKTYPE_IPV4 ||
    lt === LINKTYPE_IPV6 ||
    lt === LINKTYPE_LINUX_SLL2
  );
}

function byEtherType(et: number, off: number): LinkResult {
  return et === ETH_IPV4 || et === ETH_IPV6 ? { ok: true, off } : { ok: false, error: 'not-ip' };
}

/** Offset of the IP header inside `frame` for link type `lt`. */
export function ipOffset(lt: number, frame: Uint8Array): LinkResult {
  switch (lt) {
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_ALT12:
    case LINKTYPE_RAW_ALT14:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return { ok: true, off: 0 };
    case LINKTYPE_ETHERNET: {
      let p = 12;
      for (;;) {
        if (frame.length < p + 2) return { ok: false, error: 'truncated-link' };
        const et = (frame[p]! << 8) | frame[p + 1]!;
        if (et === ETH_VLAN || et === ETH_QINQ || et === ETH_QINQ_OLD) {
          p += 4;
          continue;
        }
        return byEtherType(et, p + 2);
      }
    }
    case LINKTYPE_LINUX_SLL: {
      if (frame.length < 16) return { ok: false, error: 'truncated-link' };
      return byEtherType((frame[14]! << 8) | frame[15]!, 16);
    }
    case LINKTYPE_LINUX_SLL2: {
      if (frame.length < 20) return { ok: false, error: 'truncated-link' };
      return byEtherType((frame[0]! << 8) | frame[1]!, 20);
    }
    case LINKTYPE_NULL: {
      // BSD loopback: address family in the capturing host's byte order.
      if (frame.length < 4) return { ok: false, error: 'truncated-link' };
      const le = frame[0]! | (frame[1]! << 8);
      const be = (frame[2]! << 8) | frame[3]!;
      const af = le !== 0 ? le : be;
      if (af === 2 || af === 24 || af === 28 || af === 30 || af === 10) return { ok: true, off: 4 };
      return { ok: false, error: 'not-ip' };
    }
    default:
      return { ok: false, error: 'unsupported-linktype' };
  }
}
