// A real OpenID provider for Aval's tests (oidc-provider, pinned in package-lock.json).
//
//   node provider.mjs <config.json>
//
// The JSON file gives: `keys` (private JWKs, the first that fits signs), `audience` (the
// resource indicator the access tokens name), `scope` (the resource server's scope),
// `access_ttl` (seconds), `port` (0 for a free one; a restart for key rotation passes the old
// one), `accounts` ({login: {groups, tenant, …}}: extra claims of their access tokens),
// `redirect_uris` (more return addresses of the console client). Clients:
// console (authorization code + PKCE), console-short (the same, tokens of `short_ttl` seconds),
// machine (client credentials). It prints `READY <issuer>` on stdout once it listens, then
// nothing the tests read; SIGTERM stops it.
import fs from 'node:fs';
import http from 'node:http';
import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const audience = config.audience;
const scope = config.scope || 'aval';
const accounts = config.accounts || {};

// The client `console-short` gets tokens of `short_ttl` seconds (2 unless given): expiry tests.
function resourceServer(client) {
  const short = client && client.clientId === 'console-short';
  return {
    scope,
    audience,
    accessTokenTTL: short ? (config.short_ttl || 2) : (config.access_ttl || 300),
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: config.alg || 'RS256' } },
  };
}

const server = http.createServer();
server.listen(config.port || 0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'console',
        client_secret: 'console-secret',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        // `redirect_uris` of the config: a real console's return address (browser tests).
        redirect_uris: ['http://127.0.0.1/callback', ...(config.redirect_uris || [])],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'console-short',
        client_secret: 'console-secret',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/callback'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'machine',
        client_secret: 'machine-secret',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys: config.keys },
    scopes: ['openid', 'offline_access'],
    pkce: { required: () => true },
    cookies: { keys: [], names: { session: '_p_session', interaction: '_p_interaction', resume: '_p_resume' } },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator, client) => {
          if (indicator === audience) return resourceServer(client);
          throw new errors.InvalidTarget();
        },
      },
    },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || config.access_ttl || 300,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || config.access_ttl || 300,
      AuthorizationCode: 60,
      IdToken: 300,
      Interaction: 300,
      Session: 600,
      Grant: 600,
    },
    async findAccount(ctx, id) {
      return { accountId: id, async claims() { return { sub: id }; } };
    },
    async extraTokenClaims(ctx, token) {
      const account = accounts[token.accountId];
      return account ? { ...account } : {};
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid offline_access');
      grant.addResourceScope(audience, scope);
      await grant.save();
      return grant;
    },
    renderError(ctx, out) { ctx.type = 'json'; ctx.body = out; },
  });
  server.on('request', provider.callback());
  process.stdout.write(`READY ${issuer}\n`);
});

process.on("SIGTERM", () => { server.close(() => process.exit(0)); server.closeAllConnections(); });
process.on("SIGINT", () => { server.close(() => process.exit(0)); server.closeAllConnections(); });
