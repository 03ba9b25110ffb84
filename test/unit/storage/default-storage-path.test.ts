import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultStoragePath } from '../../../src/storage/file-storage.ts';

test('defaultStoragePath follows XDG_DATA_HOME, then root, then the home folder', () => {
  const cases: { env: NodeJS.ProcessEnv; uid: number; want: string }[] = [
    { env: { XDG_DATA_HOME: '/data' }, uid: 1000, want: '/data/my-server' },
    { env: { XDG_DATA_HOME: '/data' }, uid: 0, want: '/data/my-server' },
    { env: {}, uid: 0, want: '/var/lib/my-server' },
    { env: {}, uid: 1000, want: '/home/u/.local/share/my-server' },
    // The XDG spec says relative values are invalid and must be ignored.
    { env: { XDG_DATA_HOME: 'relative' }, uid: 1000, want: '/home/u/.local/share/my-server' },
    { env: { XDG_DATA_HOME: '' }, uid: 0, want: '/var/lib/my-server' },
  ];
  for (const c of cases) {
    assert.equal(defaultStoragePath(c.env, c.uid, '/home/u'), c.want, JSON.stringify(c));
  }
});
