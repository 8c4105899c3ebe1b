import { HttpService } from '@nestjs/axios';
import type { AxiosInstance } from 'axios';
import type { ResolvedServiceDefinition } from '../service-definition.interface.js';

/**
 * An `HttpService` (from `@nestjs/axios`) bound to one target service: relative URLs resolve
 * against the service's `url`, and requests to its origin carry an ID token. Use the Observable
 * methods (`firstValueFrom(client.get('/x'))`) or the underlying axios instance (`axiosRef`).
 */
export class ServiceClient extends HttpService {
  constructor(
    instance: AxiosInstance,
    /** The service this client calls, with defaults applied. */
    readonly service: ResolvedServiceDefinition,
  ) {
    super(instance);
  }
}
