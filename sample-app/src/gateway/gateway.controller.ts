import { Controller, Get, HttpException, HttpStatus, Param } from '@nestjs/common';
import { isAxiosError } from 'axios';
import { IdTokenFetchError, InjectServiceClient, ServiceClient } from 'nestjs-cloud-run-auth';
import { MetadataIdentity } from './metadata-identity.js';

/** The public entry point: calls `orders` as its own service account. */
@Controller()
export class GatewayController {
  constructor(
    @InjectServiceClient('orders') private readonly orders: ServiceClient,
    private readonly identity: MetadataIdentity,
  ) {}

  /** Fetches an order from `orders`; the client attaches an ID token for `orders`' audience. */
  @Get('orders/:id')
  async order(@Param('id') id: string): Promise<Record<string, unknown>> {
    try {
      const response = await this.orders.axiosRef.get<Record<string, unknown>>(`/orders/${encodeURIComponent(id)}`);
      return { via: 'gateway', ...response.data };
    } catch (error) {
      if (error instanceof IdTokenFetchError) {
        throw new HttpException(
          { statusCode: 503, message: `could not get an ID token for orders: ${error.message}` },
          HttpStatus.SERVICE_UNAVAILABLE,
        );
      }
      if (isAxiosError<unknown>(error) && error.response) {
        const upstream = error.response.status;
        // A missing order is the caller's 404; anything else is orders failing the gateway.
        const status = upstream === 404 ? HttpStatus.NOT_FOUND : HttpStatus.BAD_GATEWAY;
        throw new HttpException(
          {
            statusCode: status,
            message: `orders answered HTTP ${upstream}`,
            upstreamStatus: upstream,
            upstream: error.response.data,
          },
          status,
        );
      }
      throw new HttpException(
        { statusCode: 502, message: `orders not reachable at ${this.orders.service.url}: ${(error as Error).message}` },
        HttpStatus.BAD_GATEWAY,
      );
    }
  }

  /** The identity this service's tokens carry. */
  @Get('whoami')
  async whoami(): Promise<Record<string, unknown>> {
    const { email, metadataHost } = await this.identity.email();
    return {
      service: 'gateway',
      email,
      metadataHost,
      calls: { orders: this.orders.service.url, audience: this.orders.service.audience },
    };
  }

  @Get('health')
  health(): { status: string } {
    return { status: 'ok' };
  }
}
