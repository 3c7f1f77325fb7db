// Typed failures of claiming the VIP on the LAN: each message says what to fix.
export type VipErrorCode =
  | 'bad-vip'
  | 'unsupported-family'
  | 'no-lan-link'
  | 'ambiguous-lan-link'
  | 'vip-is-local'
  | 'not-routed'
  | 'no-such-link'
  | 'announce-failed'
  | 'probe-failed';

export class VipError extends Error {
  override name = 'VipError';
  constructor(
    readonly code: VipErrorCode,
    message: string,
  ) {
    super(message);
  }
}
