// Drives Roster's OpenID Connect provider with openid-client 6 (LibreChat's own OIDC library):
// discovery, the code flow with PKCE and a nonce, userinfo, refresh, revocation and the
// end-session URL. The test (crates/roster-http/tests/api/openid_client.rs) reads the
// authorization URL from the first line printed, signs the user in on Roster's pages, and
// writes the callback URL it was sent to on stdin; the last line printed is the JSON result.
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const nextLine = async () => (await lines.next()).value;

// Roster runs on loopback over plain HTTP in the test; everything else is openid-client's
// default checking (issuer, signatures it checks, nonce, state, PKCE, token response shape).
const config = await client.discovery(
  new URL(env('ISSUER')),
  env('CLIENT_ID'),
  env('CLIENT_SECRET'),
  undefined,
  { execute: [client.allowInsecureRequests] },
);
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authorize = client.buildAuthorizationUrl(config, {
  redirect_uri: env('REDIRECT_URI'),
  scope: 'openid email profile offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
console.log(JSON.stringify({ authorize: authorize.href }));

const callback = new URL(await nextLine());
const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
await client.tokenRevocation(config, refreshed.refresh_token);
let afterRevocation = 'accepted';
try {
  await client.refreshTokenGrant(config, refreshed.refresh_token);
} catch (e) {
  afterRevocation = e.error ?? String(e);
}
const endSession = client.buildEndSessionUrl(config, {
  id_token_hint: refreshed.id_token ?? tokens.id_token,
  post_logout_redirect_uri: env('POST_LOGOUT_REDIRECT_URI'),
});
console.log(JSON.stringify({
  issuer: config.serverMetadata().issuer,
  claims,
  token_type: tokens.token_type,
  expires_in: tokens.expires_in,
  userinfo,
  refreshed_id_token_sub: refreshed.claims()?.sub ?? null,
  refresh_token_rotated: refreshed.refresh_token !== tokens.refresh_token,
  after_revocation: afterRevocation,
  end_session: endSession.href,
}));
process.exit(0);
