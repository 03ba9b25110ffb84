/**
 * The one door to @peculiar/x509: every file of x509/ imports the library through this module,
 * never directly. Internal to x509/.
 *
 * Why: @peculiar/x509 2.x builds on tsyringe, which throws at import ("tsyringe requires a reflect
 * polyfill") unless a global `Reflect.getMetadata` exists. ES modules evaluate their imports in
 * source order, so `reflect-metadata` below runs before the library, here and in tsc's dist/
 * output alike. Installing the polyfill and choosing the crypto provider are the library's own
 * process-wide setup, done once when this module is first evaluated; my-server keeps no state here.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

// Node's WebCrypto, named rather than left to the library's guess at a global `crypto`.
x509.cryptoProvider.set(webcrypto);

export { x509 };
