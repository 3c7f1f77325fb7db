// grpc.health.v1 for the log server: SERVING while the store accepts work, NOT_SERVING on shutdown.
import type { ServerUnaryCall, ServerWritableStream, sendUnaryData, UntypedServiceImplementation } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { HealthCheckRequest, HealthCheckResponse, HealthCheckResponse_ServingStatus as Serving } from './gen/grpc/health/v1/health.js';

export const LOG_SERVICE_NAME = 'ftcp.v1.Log';

export class HealthStatus {
  private serving = Serving.SERVING;
  private readonly watchers = new Set<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>();

  private statusOf(service: string): Serving | undefined {
    return service === '' || service === LOG_SERVICE_NAME ? this.serving : undefined;
  }

  setServing(serving: boolean): void {
    this.serving = serving ? Serving.SERVING : Serving.NOT_SERVING;
    for (const w of this.watchers) {
      const s = this.statusOf(w.request.service);
      if (s !== undefined) w.write({ status: s });
    }
  }

  endWatches(): void {
    for (const w of this.watchers) w.end();
    this.watchers.clear();
  }

  implementation(): UntypedServiceImplementation {
    return {
      check: (call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, cb: sendUnaryData<HealthCheckResponse>) => {
        const s = this.statusOf(call.request.service);
        if (s === undefined) cb({ code: status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        else cb(null, { status: s });
      },
      watch: (call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        call.write({ status: this.statusOf(call.request.service) ?? Serving.SERVICE_UNKNOWN });
        this.watchers.add(call);
        call.on('cancelled', () => this.watchers.delete(call));
        call.on('close', () => this.watchers.delete(call));
      },
    };
  }
}
