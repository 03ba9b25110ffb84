/**
 * The V8 flags `my-server run` needs, applied by the program itself, however it was started (the
 * package's bin, `npx`, `node dist/src/main.js`, the bundle), not only by the command lines of the
 * Dockerfile, the systemd unit and the single executable.
 *
 * Why a re-exec: V8 sizes the young generation when the isolate is created, so
 * `v8.setFlagsFromString('--max-semi-space-size=8')` as the first statement of the program has no
 * effect on it (measured on Node 24.21: new space still grows to 128 MiB under allocation, VmHWM
 * 231 MiB with or without the call, 134 MiB with the flag on the command line). `process.execve`
 * replaces the process image in place: same PID (signals from systemd, Docker or a shell reach
 * it), same file descriptors (stdin, stdout, stderr), and the exit code is the new image's, so
 * nothing changes for whoever started it but ~40 ms of start-up.
 *
 * src/main.ts imports this module second, after cli/node-check.ts: it must evaluate before any
 * module that allocates much, and the Node check must refuse an old Node first. Nothing imported.
 */

/**
 * What `run` is started with. 8 MiB semi-spaces: V8 otherwise grows the young generation to
 * 3 × 32 MiB under allocation-heavy load and keeps it (docs/design.md "Memory").
 */
export const RUN_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

/** Set in the environment of the re-executed image, so it can never re-exec again; removed at once. */
const REEXEC_MARK = 'MY_SERVER_NODE_FLAGS_APPLIED';

/** `--max_semi_space_size=8` and `--max-semi-space-size 8` name the same V8 flag. */
function flagName(arg: string): string {
  return arg.replace(/=.*$/s, '').replaceAll('_', '-');
}

/**
 * The flags of `wanted` that neither node's own arguments nor NODE_OPTIONS name, whatever value
 * they give it: a flag the user set (e.g. a larger semi-space) is theirs to choose.
 */
export function missingNodeFlags(wanted: readonly string[], execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  return wanted.filter((f) => !given.has(flagName(f)));
}

/**
 * The argv to re-exec with (argv[0] first), or undefined when this process must go on as it is:
 * not the `run` command, already re-executed, a single executable (its flags are baked in, and its
 * argv takes no node flags), or nothing missing.
 */
export function reexecArgs(p: {
  readonly argv: readonly string[];
  readonly execArgv: readonly string[];
  readonly execPath: string;
  readonly env: NodeJS.ProcessEnv;
  readonly isSea: boolean;
}): string[] | undefined {
  if (p.argv[2] !== 'run' || p.argv[1] === undefined || p.isSea || p.env[REEXEC_MARK] !== undefined) return undefined;
  const missing = missingNodeFlags(RUN_NODE_FLAGS, p.execArgv, p.env.NODE_OPTIONS);
  if (missing.length === 0) return undefined;
  return [p.execPath, ...missing, ...p.execArgv, ...p.argv.slice(1)];
}

function applyNodeFlags(): void {
  const marked = process.env[REEXEC_MARK] !== undefined;
  // Not inherited by anything this process starts (a child my-server decides for itself).
  delete process.env[REEXEC_MARK];
  if (marked || typeof process.execve !== 'function') return;
  const sea = process.getBuiltinModule('node:sea') as { isSea?: () => boolean } | undefined;
  const args = reexecArgs({ argv: process.argv, execArgv: process.execArgv, execPath: process.execPath, env: process.env, isSea: sea?.isSea?.() === true });
  if (args === undefined) return;
  try {
    process.execve(process.execPath, args, { ...process.env, [REEXEC_MARK]: '1' });
  } catch (err) {
    // Only a failed execve returns (e.g. a seccomp filter): run without the flags rather than not at all.
    process.emitWarning(`my-server: could not restart node with ${RUN_NODE_FLAGS.join(' ')} (${(err as Error).message}); peak memory under load will be higher`);
  }
}

applyNodeFlags();
