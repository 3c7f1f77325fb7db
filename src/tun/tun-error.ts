// A failed TUN operation, with the errno name as `code` (e.g. 'EPERM', 'ENOENT', 'EBUSY').
export class TunError extends Error {
  override readonly name = 'TunError';
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;

  constructor(message: string, code: string, errno: number, syscall: string) {
    super(message);
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }

  /** Converts an error thrown by the addon; anything else (TypeError, RangeError) passes unchanged. */
  static from(err: unknown): unknown {
    if (err instanceof Error && typeof (err as { code?: unknown }).code === 'string') {
      const e = err as Error & { code: string; errno?: number; syscall?: string };
      return new TunError(e.message, e.code, e.errno ?? 0, e.syscall ?? '');
    }
    return err;
  }
}
