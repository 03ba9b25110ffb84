/**
 * `my-server hash-password [--algorithm bcrypt|argon2id] [--plaintext P]`: prints a hash for
 * basic_auth. Without --plaintext the password is read from the terminal without echo, twice; from
 * a pipe, the first line.
 */
import { hashPassword, type HashAlgorithm } from '../auth/passwords.ts';
import { parse, usageError } from './usage.ts';

export async function hashPasswordCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { algorithm: { type: 'string' }, plaintext: { type: 'string' } }, false);
  if (values['help']) {
    process.stdout.write('Usage: my-server hash-password [--algorithm bcrypt|argon2id] [--plaintext PASSWORD]\n');
    return 0;
  }
  const algorithm = (values['algorithm'] ?? 'bcrypt') as string;
  if (algorithm !== 'bcrypt' && algorithm !== 'argon2id') throw usageError(`--algorithm: unsupported "${algorithm}" (use bcrypt or argon2id)`);
  let password = values['plaintext'] as string | undefined;
  if (password === undefined) {
    if (process.stdin.isTTY) {
      password = await readHidden('Enter password: ');
      if ((await readHidden('Confirm password: ')) !== password) {
        process.stderr.write('my-server hash-password: the passwords do not match\n');
        return 1;
      }
    } else {
      password = (await readAll()).split(/\r?\n/, 1)[0] ?? '';
    }
  }
  if (password === '') {
    process.stderr.write('my-server hash-password: empty password\n');
    return 1;
  }
  process.stdout.write(`${await hashPassword(password, algorithm as HashAlgorithm)}\n`);
  return 0;
}

function readHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    process.stderr.write(prompt);
    const stdin = process.stdin;
    stdin.setRawMode(true);
    stdin.resume();
    let text = '';
    const onData = (buf: Buffer): void => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.off('data', onData);
          stdin.setRawMode(false);
          stdin.pause();
          process.stderr.write('\n');
          resolve(text);
          return;
        }
        if (ch === '\u0003') process.exit(130);
        if (ch === '\u007f') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function readAll(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
