// A real OpenID Provider for the test suite: panva's oidc-provider (OpenID Certified), with its
// own development login and consent pages. Reads its configuration (issuer, port, signing keys,
// clients, accounts with their claims) from the JSON file named on the command line, prints
// "listening" once it accepts connections, and runs until it is killed.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts;

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: config.keys },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  // Everything here is on the loopback address, which the provider's SSRF guard refuses to
  // send back-channel logout tokens to: only this test provider lifts it.
  fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined }),
  cookies: { keys: ['test-cookie-key-not-a-secret'] },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
});
provider.proxy = false;
for (const event of ['server_error', 'authorization.error', 'grant.error', 'backchannel.error']) {
  provider.on(event, (...args) => console.error(event, ...args.slice(1).map(
    (a) => (a instanceof Error ? `${a.message} ${a.error_description || ''} ${a.cause || ''}` : String(a).slice(0, 200)),
  )));
}
provider.listen(config.port, '127.0.0.1', () => { console.log('listening'); });
