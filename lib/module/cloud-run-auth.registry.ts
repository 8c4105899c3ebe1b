import { Injectable, Logger } from '@nestjs/common';
import type { ResolvedServiceDefinition } from '../outbound/service-definition.options.js';
import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { describeDeclaration, type ModuleDeclaration } from './module-declaration.js';

/**
 * What is configured in one application, however many modules import `CloudRunAuthModule`:
 * the one `forRoot`/`forRootAsync` and every service, by name. Provided by a static module,
 * so Nest makes one per application.
 */
@Injectable()
export class CloudRunAuthRegistry {
  private readonly logger = new Logger('CloudRunAuth');
  private root: ModuleDeclaration | undefined;
  private readonly services = new Map<string, { service: ResolvedServiceDefinition; declaration: ModuleDeclaration }>();

  /** Records the application's `forRoot`/`forRootAsync`; a second one fails naming both. */
  claimRoot(declaration: ModuleDeclaration): void {
    if (this.root) {
      throw new CloudRunAuthConfigError(
        `the module is configured twice, by ${describeDeclaration(this.root)} and by ${describeDeclaration(declaration)}. ` +
          'An application has one forRoot() or forRootAsync(), in its root module; feature and library modules ' +
          'declare the services they call with CloudRunAuthModule.forFeature()',
        `CloudRunAuthModule.${declaration.method}`,
      );
    }
    this.root = declaration;
  }

  /**
   * Adds the services of one module; a name declared elsewhere fails naming both declarations.
   * Warns once for each service that `allowInsecureHttp` lets use plain http on a network.
   */
  register(
    services: ReadonlyMap<string, ResolvedServiceDefinition>,
    declaration: ModuleDeclaration,
  ): ReadonlyMap<string, ResolvedServiceDefinition> {
    for (const [name, service] of services) {
      const previous = this.services.get(name);
      if (previous) {
        throw new CloudRunAuthConfigError(
          `service "${name}" is declared twice, by ${describeDeclaration(previous.declaration)} and by ` +
            `${describeDeclaration(declaration)}; declare it once and import that module where the client is needed`,
          `services[${name}].name`,
        );
      }
      this.services.set(name, { service, declaration });
    }
    for (const service of services.values()) if (service.insecureHttp) this.warnInsecure(service);
    return services;
  }

  private warnInsecure({ name, origin, authenticate }: ResolvedServiceDefinition): void {
    this.logger.warn(
      `services[${name}].allowInsecureHttp: requests to ${origin}${authenticate ? ' and their ID tokens' : ''} ` +
        'travel in clear text (plain http to a host that is not loopback). For a local network only; refused on Cloud Run',
    );
  }

  /** Every registered service. */
  all(): ResolvedServiceDefinition[] {
    return [...this.services.values()].map(({ service }) => service);
  }
}
