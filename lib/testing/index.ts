export { startEmulator } from './emulator.js';
export type { Emulator, EmulatorOptions, FailOptions, MintOptions, RecordedRequest } from './emulator.interface.js';
