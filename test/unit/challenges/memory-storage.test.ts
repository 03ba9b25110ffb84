/** The in-memory test storage keeps the Storage contract, so tests built on it prove real behaviour. */
import { storageConformance } from '../../helpers/storage-conformance.ts';
import { MemoryStorage } from './memory-storage.ts';

storageConformance('MemoryStorage', async () => {
  const storage = new MemoryStorage();
  return { storage, another: async () => storage.another(), cleanup: async () => undefined };
});
