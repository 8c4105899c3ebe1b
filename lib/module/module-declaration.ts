/** One call of `CloudRunAuthModule.forRoot()`, `forRootAsync()` or `forFeature()`, for error messages. */
export interface ModuleDeclaration {
  readonly method: 'forRoot' | 'forRootAsync' | 'forFeature';
  /** The caller's stack frame, e.g. `AppModule.register (file:///app/src/app.module.ts:12:25)`. */
  readonly at: string;
}

let calls = 0;

/** Records where `method` was called from; to be called by that method itself, first thing. */
export function declare(method: ModuleDeclaration['method']): ModuleDeclaration & { readonly call: number } {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, declare);
  // Line 0 is the message, line 1 the method's own frame, line 2 its caller's.
  const frame = holder.stack?.split('\n')[2]?.trim().replace(/^at /, '');
  return Object.freeze({ method, at: frame || 'an unknown place', call: ++calls });
}

/** `CloudRunAuthModule.forFeature() at AppModule (file:///…)`. */
export function describeDeclaration({ method, at }: ModuleDeclaration): string {
  return `CloudRunAuthModule.${method}() at ${at}`;
}
