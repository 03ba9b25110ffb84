// scratch (not committed): one my-server, warm-up, runAbuse, CPU profile on SIGINT exit
import { spawn, execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { runAbuse } from './bench/abuse.ts';
const child = spawn('taskset', ['-c', '1', process.execPath, '--max-semi-space-size=8', ...process.argv.slice(2), 'dist/src/main.js', 'run', '--config', '/tmp/pair/Proxyfile-a'], { stdio: 'ignore' });
await sleep(2500);
execFileSync('taskset', ['-c', '0', 'wrk', '-t1', '-c64', '-d3s', 'https://bench.test:18443/'], { stdio: 'ignore' });
execFileSync('taskset', ['-c', '0', 'h2load', '-c8', '-m8', '-D2', 'https://bench.test:18443/'], { stdio: 'ignore' });
await sleep(1000);
const cpu = () => { const f = execFileSync('cat', [`/proc/${child.pid}/task/${child.pid}/stat`]).toString(); return 0; };
const r = await runAbuse({ port: 18443, host: 'bench.test', cpus: '0', signal: new AbortController().signal });
console.log(r);
child.kill('SIGINT'); await sleep(1500);
