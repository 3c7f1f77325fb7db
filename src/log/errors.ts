// Typed errors of the log store and service; each maps onto one gRPC status code.
import { status } from '@grpc/grpc-js';

export type LogErrorCode =
  | 'INVALID_ARGUMENT'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'UNAUTHENTICATED'
  | 'NOT_FOUND'
  | 'DATA_LOSS';

export class LogError extends Error {
  constructor(
    readonly code: LogErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LogError';
  }

  get grpcCode(): status {
    return status[this.code];
  }
}

/** Maps a failed disk write onto the status a writer sees; `what` names the operation. */
export function diskError(err: unknown, what: string, dir: string): LogError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'EUNKNOWN';
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new LogError(
      'RESOURCE_EXHAUSTED',
      `log store disk full (${code}) during ${what} in ${dir}: appends are refused until space is freed; reads keep working`,
    );
  }
  return new LogError('UNAVAILABLE', `log store write error (${code}) during ${what} in ${dir}: appends are refused; retry later`);
}
