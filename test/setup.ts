import fc from 'fast-check';

// As the CLI does (src/cli/main.ts): quiet SQLite databases are read through immutable connections.
process.env['SQLITE_USE_URI'] ??= '1';

fc.configureGlobal({ numRuns: Number(process.env.FC_NUM_RUNS ?? 100) });
