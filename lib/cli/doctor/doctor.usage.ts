const EXIT_CODES = `Exit codes:
  0  works
  1  misconfigured here: local configuration, credentials, a token for the wrong audience,
     the emulator or the metadata server not reachable
  2  bad command line
  3  refused by the target for a reason on its side: the caller lacks roles/run.invoker,
     the service's allow-list, the audience the service verifies
`;

/** `cloud-run-auth doctor --help`. */
export const DOCTOR_USAGE = `Usage: cloud-run-auth doctor <command> [options]

Explains why a service-to-service call on Cloud Run gets 401 or 403, end to end: which
credentials the caller has, the ID token they give, what the target answers, what the
service's verifier says. Each check names one cause and one next step. Never prints a
token, a signature or a private key. Works on a laptop, in CI and inside a Cloud Run container.

Commands:
  call [<url>]    as the caller: find the credentials, mint an ID token, call the URL once,
                  explain the answer
                    cloud-run-auth doctor call https://orders-abc123xyz-ew.a.run.app/health
  verify          as the service: run its verifier and allow-list on a token
                    cloud-run-auth doctor verify --config dist/auth.options.js --token-file token.txt
  config <file>   check module options as the application loads them
                    cloud-run-auth doctor config dist/auth.options.js

Options of every command:
  --json          print one JSON object (stdout) instead of text
  -h, --help      show the command's options

${EXIT_CODES}
Run cloud-run-auth doctor <command> --help for a command's options.
`;

/** `cloud-run-auth doctor call --help`. */
export const CALL_USAGE = `Usage: cloud-run-auth doctor call [<url>] [options]

As the caller: which credentials the library would use and why (Application Default
Credentials' order), whether they mint an ID token for the audience, the token's claims,
then one request to <url> with it (Authorization: Bearer) and what the answer means.
As the library, it sends a token over https only, or plain http to this machine (or to a
service whose options set allowInsecureHttp).

Options:
      --audience <aud>        the token's audience (default: the URL's origin, as the library sends)
      --service <name>        take url, audience, token header and credentials from services[<name>]
                              of --config
      --config <file>         module options (JSON, or a .js/.mjs/.cjs module exporting them as
                              default or as cloudRunAuthOptions); without --service, also the
                              target's, whose inbound verifier then runs on the token here
      --target-config <file>  the target service's module options: its inbound verifier runs on
                              the token here and names the failing claim
      --token-file <file>     send this token instead of minting one ("-" reads stdin)
      --stdin                 the same, from stdin
  -X, --method <method>       HTTP method of the request (default GET)
      --timeout <seconds>     for the token and for the request, each (default 10)
      --json                  print one JSON object instead of text
  -h, --help                  show this help

Examples:
  cloud-run-auth doctor call https://orders-abc123xyz-ew.a.run.app/health
  cloud-run-auth doctor call --service orders --config dist/auth.options.js
  gcloud auth print-identity-token | cloud-run-auth doctor call https://orders-abc123xyz-ew.a.run.app --stdin

${EXIT_CODES}`;

/** `cloud-run-auth doctor verify --help`. */
export const VERIFY_USAGE = `Usage: cloud-run-auth doctor verify [options] (--token-file <file> | --stdin)

As the service: runs its exact verifier configuration and allow-list on a token, as
CloudRunAuthGuard would, and prints the decision with the guard's reason code, the claim
that failed and what would fix it. Recognises access tokens (ya29.…) and other non-ID tokens.
The token is read from a file or stdin, never from the command line (shell history keeps that).

Options:
      --config <file>          module options whose inbound options are the service's
      --audience <aud>         inbound.audience (repeat it for several; replaces the file's)
      --certs-url <url>        inbound.certsUrl (e.g. the emulator's http://127.0.0.1:8090/oauth2/v3/certs)
      --mode <mode>            inbound.mode: verify or cloud-run-iam
      --allow <entry>          an entry of a route's @AllowedCallers() (repeat it); the route's
                               list replaces inbound.allowedCallers (alias: --route-allow)
      --url <url>              the URL callers use, to tell a service that verifies another audience
      --token-file <file>      the token ("-" reads stdin); a "Bearer …" header value works too
      --stdin                  the token, from stdin
      --json                   print one JSON object instead of text
  -h, --help                   show this help

Without an allow-list (--config's inbound.allowedCallers, or --allow), any caller with a
valid token is taken as allowed, and the output says so.

Examples:
  cloud-run-auth doctor verify --config dist/auth.options.js --token-file token.txt
  pbpaste | cloud-run-auth doctor verify --audience https://orders-abc123xyz-ew.a.run.app --allow gateway@my-project.iam.gserviceaccount.com --stdin

${EXIT_CODES}`;

/** `cloud-run-auth doctor config --help`. */
export const CONFIG_USAGE = `Usage: cloud-run-auth doctor config <file> [options]

Loads module options as the application has them (a .json file, or a .js/.mjs/.cjs module
exporting them as default or as cloudRunAuthOptions; .ts files only where Node strips types,
22.18 and later), validates them with the module's own rules, and prints the services (name,
url, audience), the credentials each uses, the inbound modes and allow-lists, and what Cloud
Run (K_SERVICE set) would refuse at boot or fail at run time.

Options:
      --cloud-run     judge the options as on Cloud Run: what it would refuse counts as an error
                      (the default inside a Cloud Run container)
      --json          print one JSON object instead of text
  -h, --help          show this help

Example:
  cloud-run-auth doctor config dist/auth.options.js --cloud-run

${EXIT_CODES}`;
