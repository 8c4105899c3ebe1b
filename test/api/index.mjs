/** The API report and the unexported-types check, for test/api-report.spec.ts and api-report.mjs. */
export { entryPoints, loadPackageApi, REPORT_DIR, reportFile } from './package-api.mjs';
export { renderReport } from './report.mjs';
export { findUnexportedTypes } from './unexported-types.mjs';
