import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { Caller, SkipCloudRunAuth, type CallerIdentity } from 'nestjs-cloud-run-auth';
import { ORDERS, type Order } from './orders.data.js';

/**
 * The private service. `CloudRunAuthGuard` is mounted globally (`inbound.mount`), so every
 * route needs a valid ID token from an allowed caller unless it opts out.
 */
@Controller()
export class OrdersController {
  @Get('orders/:id')
  order(@Param('id') id: string, @Caller() caller: CallerIdentity): { order: Order; caller: Record<string, unknown> } {
    const order = ORDERS.get(id);
    if (!order) throw new NotFoundException(`no order ${id}`);
    return {
      order,
      caller: {
        email: caller.email,
        subject: caller.subject,
        audience: caller.audience,
        issuer: caller.issuer,
        signatureVerified: caller.signatureVerified,
        expiresAt: caller.expiresAt.toISOString(),
      },
    };
  }

  /** Liveness for humans and load balancers; no token needed. */
  @Get('health')
  @SkipCloudRunAuth()
  health(): { status: string } {
    return { status: 'ok' };
  }
}
