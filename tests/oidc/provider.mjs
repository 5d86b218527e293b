// The real OpenID Connect provider the test suite starts (tests/services.py OidcProvider): oidc-provider,
// configured strictly (code flow only, PKCE S256 required, RS256-signed ID tokens, single-use codes), with its
// built-in development login and consent pages as the provider's user interface.
//
//   node tests/oidc/provider.mjs CONFIG.json
//   node tests/oidc/provider.mjs tests/oidc/example.json   (by hand: port 9400, client signup-local for a provider
//     named "local", accounts alice (verified address) and bob (unverified) in example-accounts.json)
//
// CONFIG.json (relative paths are taken from the config file's folder):
//   {"port": 9400, "accounts": "accounts.json",
//    "clients": [{"client_id": "...", "client_secret": "...", "redirect_uris": ["http://localhost/cb"]}],
//    "exit_with_stdin": false}
// The issuer is http://127.0.0.1:<port>. Clients are "native" clients (RFC 8252): a loopback redirect_uri on
// http matches whatever its port, so one registration serves every test site on a free port; the path must match.
// The accounts file is read at every use (login, token, userinfo), so a test may change it while this runs:
//   {"<login>": {"email": "...", "email_verified": true, "name": "..."}}
// A login typed into the login page is the `sub`; a login missing from the file signs in with no email and no
// name claims (as an account at a provider that shares none), never with another account's.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import Provider from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node provider.mjs CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const accountsPath = resolve(dirname(configPath), config.accounts);
const issuer = `http://127.0.0.1:${config.port}`;

function readAccounts() {
  try {
    return JSON.parse(readFileSync(accountsPath, 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return {};
    throw error;
  }
}

async function findAccount(ctx, sub) {
  const known = Object.hasOwn(readAccounts(), sub);
  return {
    accountId: sub,
    async claims() {
      if (!known) return { sub };
      const { email, email_verified: emailVerified, name } = readAccounts()[sub] ?? {};
      return { sub, email, email_verified: emailVerified, name };
    },
  };
}

// A fresh signing key per run: an ID token from an earlier run (or another provider) never verifies.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: randomBytes(8).toString('hex'),
};

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    application_type: 'native',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
    ...client,
  })),
  findAccount,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  conformIdTokenClaims: false, // the scopes' claims go into the ID token too, as Google's and most providers' do
  pkce: { methods: ['S256'], required: () => true },
  responseTypes: ['code'],
  scopes: ['openid', 'email', 'profile'],
  features: { devInteractions: { enabled: true } },
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: { AuthorizationCode: 60, AccessToken: 300, IdToken: 300, Interaction: 600, Session: 600, Grant: 600 },
});
provider.on('server_error', (ctx, error) => console.error('server_error', error));

const server = provider.listen(config.port, '127.0.0.1', () => console.log(`oidc-provider listening as ${issuer}`));
const stop = () => { server.close(() => process.exit(0)); server.closeAllConnections(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (config.exit_with_stdin) { // the test session's end, even when it was killed before it could stop us
  process.stdin.on('end', stop);
  process.stdin.resume();
}
