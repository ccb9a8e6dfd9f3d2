import { describe, expect, it } from 'vitest';
import { flagsArgv, inheritedFlags, jobEnv, snapshotArgs } from '../../src/cli/jobs.js';
import { emptyConfig } from '../../src/config/load.js';
import type { JobConfig } from '../../src/config/types.js';

const job = (o: Partial<JobConfig>): JobConfig => ({ name: 'j', enabled: true, schedule: '1d', source: { kind: 'paths', paths: ['/a', '/b'] }, tags: [], repository: {}, ...o });

describe('a job as a CLI run', () => {
  it('paths jobs run `snapshot create --auto` of their paths, with their tags', () => {
    expect(snapshotArgs(job({ tags: ['daily'] }))).toEqual(['snapshot', 'create', '--auto', '--tag', 'daily', '--', '/a', '/b']);
  });

  it('profile jobs pass the profile, --no-workspace and extra paths, and the state dir in the profile env var', () => {
    const j = job({ source: { kind: 'profile', profile: 'openclaw', stateDir: '/srv/claw', workspace: false, extraPaths: ['/x'] } });
    expect(snapshotArgs(j)).toEqual(['snapshot', 'create', '--auto', '--profile', 'openclaw', '--no-workspace', '--extra-path', '/x']);
    expect(jobEnv({ OPENCLAW_STATE_DIR: '/other' }, j, emptyConfig())['OPENCLAW_STATE_DIR']).toBe('/srv/claw');
  });

  it("the daemon's flags apply only where the job sets nothing", () => {
    const opts = { repo: '/flag-repo', passwordFile: '/pw', cacheDir: '/c' };
    expect(flagsArgv(inheritedFlags(opts, job({})))).toEqual(['--repo', '/flag-repo', '--cache-dir', '/c', '--password-file', '/pw', '--retry-lock', '10m']);
    expect(flagsArgv(inheritedFlags(opts, job({ repository: { location: '/job-repo', password: { kind: 'none' } } })))).toEqual(['--cache-dir', '/c', '--retry-lock', '10m']);
    const env = jobEnv({ CLAWBACK_REPO: '/env', CLAWBACK_PASSWORD: 'envpw' }, job({ repository: { location: '/job-repo', password: { kind: 'file', file: '/k' } } }), emptyConfig());
    expect(env).toMatchObject({ CLAWBACK_REPO: '/job-repo', CLAWBACK_PASSWORD_FILE: '/k' });
    expect(env['CLAWBACK_PASSWORD']).toBeUndefined();
  });
});
