import { Inject } from '@nestjs/common';

/**
 * The DI token of the `ServiceClient` for service `name`, for `moduleRef.get()` or
 * `Test.createTestingModule(...).overrideProvider(getServiceClientToken('orders'))`.
 */
export function getServiceClientToken(name: string): string {
  return `CloudRunAuthServiceClient:${name}`;
}

/** Injects the `ServiceClient` of the service registered under `name`. */
export const InjectServiceClient = (name: string): ParameterDecorator & PropertyDecorator =>
  Inject(getServiceClientToken(name));
