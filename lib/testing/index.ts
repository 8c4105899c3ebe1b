export { startEmulator } from './emulator.js';
export type {
  Emulator,
  EmulatorOptions,
  EndpointFailureOptions,
  MintOptions,
  RecordedRequest,
} from './emulator.interface.js';
export { TEST_CALLER_HEADER, testCallerGuard } from './test-caller.guard.js';
