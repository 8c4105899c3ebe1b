import { HttpService } from '@nestjs/axios';
import type { AxiosInstance } from 'axios';
import type { ResolvedServiceDefinition } from '../service-definition.options.js';

/**
 * An `HttpService` (from `@nestjs/axios`) bound to one target service: relative URLs resolve
 * against the service's `url`, and requests to its origin carry an ID token. Use the Observable
 * methods (`firstValueFrom(client.get('/x'))`) or the underlying axios instance (`axiosRef`).
 */
export class ServiceClient extends HttpService {
  /** The service this client calls, with defaults applied (see `ServiceDefinition`). */
  readonly service: {
    readonly name: string;
    readonly url: string;
    /** Origin of `url`: the only origin tokens are sent to. */
    readonly origin: string;
    readonly audience: string;
    readonly tokenHeader: 'authorization' | 'x-serverless-authorization';
    readonly authenticate: boolean;
  };
  /**
   * The service's definition, with defaults applied.
   * @internal
   */
  readonly definition: ResolvedServiceDefinition;

  /**
   * Built by the module, one per service.
   * @internal
   */
  constructor(instance: AxiosInstance, definition: ResolvedServiceDefinition) {
    super(instance);
    this.definition = definition;
    this.service = definition;
  }
}
