import { describe, expect, it } from 'vitest';
import JSON5 from 'json5';
import { mergeEnv, stripEnv } from '../../src/fs/secrets-env.js';
import { mergeJson, stripJson } from '../../src/fs/secrets-json.js';
import { mergeYaml, stripYaml, scanYaml } from '../../src/fs/secrets-yaml.js';
import { SECRET_PLACEHOLDER as PH, isSecretKey } from '../../src/fs/secrets.js';

describe('secret key names', () => {
  it('recognises secret fields and leaves look-alikes', () => {
    for (const k of ['apiKey', 'api_key', 'token', 'botToken', 'accessToken', 'clientSecret', 'password', 'OPENAI_API_KEY', 'GITHUB_TOKEN', 'privateKey', 'credentials', 'OAuthToken'])
      expect(isSecretKey(k), k).toBe(true);
    for (const k of ['maxTokens', 'tokenizer', 'token_count', 'key', 'keyboard', 'mode', 'model', 'PORT', 'tokens'])
      expect(isSecretKey(k), k).toBe(false);
  });
});

describe('.env', () => {
  const text = '# keys\nexport OPENAI_API_KEY=sk-abc123 # main\nPORT=8080\nDB_PASSWORD="p@ss word"\nEMPTY_TOKEN=\nMULTI_SECRET="line1\nline2"\nREF_TOKEN=${OTHER}\n';
  it('replaces secret values, keeps the rest byte for byte', () => {
    const r = stripEnv(text);
    expect(r.removed).toBe(3);
    expect(r.text).toBe(`# keys\nexport OPENAI_API_KEY=${PH} # main\nPORT=8080\nDB_PASSWORD=${PH}\nEMPTY_TOKEN=\nMULTI_SECRET=${PH}\nREF_TOKEN=\${OTHER}\n`);
    expect(r.text).not.toContain('sk-abc123');
    expect(r.text).not.toContain('line2');
  });
  it('merges live values back and drops keys the live file lacks', () => {
    const restored = stripEnv(text).text.replace('PORT=8080', 'PORT=9090');
    const live = 'OPENAI_API_KEY=sk-live\nDB_PASSWORD=\'live pw\'\n';
    expect(mergeEnv(restored, live)).toBe(`# keys\nexport OPENAI_API_KEY=sk-live # main\nPORT=9090\nDB_PASSWORD='live pw'\nEMPTY_TOKEN=\nREF_TOKEN=\${OTHER}\n`);
  });
  it('refuses an unclosed quote', () => {
    expect(() => stripEnv('A_KEY="open\n')).toThrow(/never closed/);
  });
});

describe('JSON5', () => {
  const text = `// OpenClaw config
{
  gateway: { mode: 'local', auth: { mode: "token", token: 'gw-secret-1' } },
  models: { providers: { openai: { apiKey: "sk-2", baseUrl: "https://x" } } },
  env: { OPENAI_API_KEY: "sk-3", PORT: "1" },
  channels: { telegram: { botToken: "12:abc", maxTokens: 4096, allow: ["a", "b",], } },
  ref: { token: "\${GW_TOKEN}" },
}
`;
  it('replaces secret values, keeping comments and formatting', () => {
    const r = stripJson(text);
    expect(r.removed.sort()).toEqual(['channels.telegram.botToken', 'env.OPENAI_API_KEY', 'gateway.auth.token', 'models.providers.openai.apiKey']);
    for (const s of ['gw-secret-1', 'sk-2', 'sk-3', '12:abc']) expect(r.text).not.toContain(s);
    expect(r.text.startsWith('// OpenClaw config\n{\n  gateway: { mode: \'local\'')).toBe(true);
    const parsed = JSON5.parse(r.text) as { channels: { telegram: { maxTokens: number } }; ref: { token: string } };
    expect(parsed.channels.telegram.maxTokens).toBe(4096);
    expect(parsed.ref.token).toBe('${GW_TOKEN}');
  });
  it('merges live values and removes fields the live file lacks', () => {
    const restored = stripJson(text).text.replace("mode: 'local'", "mode: 'remote'");
    const live = '{"gateway":{"auth":{"token":"gw-live"}},"models":{"providers":{"openai":{"apiKey":{"source":"env","id":"K"}}}}}';
    const merged = mergeJson(restored, live);
    const m = JSON5.parse(merged) as Record<string, any>;
    expect(m.gateway.mode).toBe('remote');
    expect(m.gateway.auth.token).toBe('gw-live');
    expect(m.models.providers.openai.apiKey).toEqual({ source: 'env', id: 'K' });
    expect(m.env).toEqual({ PORT: '1' });
    expect(m.channels.telegram.botToken).toBeUndefined();
    expect(merged).not.toContain(PH);
  });
  it('refuses unparseable text', () => {
    expect(() => stripJson('{ token: "x" ')).toThrow(/not valid JSON5/);
    expect(() => mergeJson('{}', '{ broken')).toThrow(/live config is not valid JSON5/);
  });
});

describe('YAML', () => {
  const text = `# Hermes
model:
  default: hermes-4
  api_key: "sk-yaml-1"   # provider key
  base_url: https://x
platforms:
  telegram:
    token: 123:abc
    allowed:
      - alice
      - bob
secrets:
  - name: a
    value: s3cr3t
password: |
  multi
  line
after: 1
`;
  it('scans paths', () => {
    const paths = scanYaml(text).map((s) => s.path.join('.'));
    expect(paths).toEqual(['model.default', 'model.api_key', 'model.base_url', 'platforms.telegram.token', 'platforms.telegram.allowed.0', 'platforms.telegram.allowed.1', 'secrets.0.name', 'secrets.0.value', 'password', 'after']);
  });
  it('replaces secret scalars only', () => {
    const r = stripYaml(text);
    expect(r.removed).toEqual(['model.api_key', 'platforms.telegram.token', 'secrets.0.name', 'secrets.0.value', 'password']);
    for (const s of ['sk-yaml-1', '123:abc', 's3cr3t', 'multi']) expect(r.text).not.toContain(s);
    expect(r.text).toContain('  api_key: ' + PH + '   # provider key\n');
    expect(r.text).toContain('after: 1\n');
  });
  it('merges live values back', () => {
    const restored = stripYaml(text).text.replace('hermes-4', 'hermes-5');
    const live = 'model:\n  api_key: sk-live\nplatforms:\n  telegram:\n    token: "t-live"\npassword: |\n  live\n  pw\n';
    const merged = mergeYaml(restored, live);
    expect(merged).toContain('default: hermes-5');
    expect(merged).toContain('api_key: sk-live   # provider key');
    expect(merged).toContain('token: "t-live"');
    expect(merged).toContain('password: |\n  live\n  pw\nafter: 1');
    expect(merged).toContain('  - name: ""\n');
    expect(merged).not.toContain('value:');
    expect(merged).not.toContain(PH);
  });
  it('refuses secrets in flow collections and unclosed quotes', () => {
    expect(() => stripYaml('a: {token: x}\n')).toThrow(/flow collection/);
    expect(() => stripYaml('token: "open\n')).toThrow(/never closed/);
  });
});
