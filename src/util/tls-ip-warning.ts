// grpc-js hands Node's TLS the target's host as the server name: an IP address for `--log
// 10.0.0.2:7000`, on which Node warns once (DEP0123) that a future version will ignore it. The
// certificate is checked against the address either way (its subjectAltName IP), so in the
// daemon's log the warning is only noise that looks like a fault. Other warnings pass.
export function quietTlsIpServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const opts = rest[0];
    const code = typeof opts === 'object' && opts !== null ? (opts as { code?: unknown }).code : rest[1];
    if (code === 'DEP0123') return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}
