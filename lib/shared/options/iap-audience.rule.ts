/**
 * IAP's two audience forms: IAP on Cloud Run (`/projects/NUMBER/locations/REGION/services/NAME`,
 * a Cloud Run service name) and IAP on a load balancer (`/projects/NUMBER/global/backendServices/ID`).
 */
export const IAP_AUDIENCE =
  /^\/projects\/[1-9]\d{0,19}\/(?:locations\/[a-z]+-[a-z]+\d+\/services\/[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?|global\/backendServices\/\d{1,20})$/;

/** The forms {@link IAP_AUDIENCE} accepts, for error messages. */
export const IAP_AUDIENCE_FORMS =
  '"/projects/PROJECT_NUMBER/locations/REGION/services/SERVICE_NAME" (IAP on Cloud Run) or ' +
  '"/projects/PROJECT_NUMBER/global/backendServices/BACKEND_SERVICE_ID" (IAP on a load balancer)';
