/**
 * node:http for modules the server loads (issue 12: idle memory). Import this module, not
 * 'node:http', for values (`import type` from 'node:http' stays fine: it is erased).
 *
 * Why: an ES-module import of a built-in reads every export of it, whatever names the import
 * lists, and node:http's WebSocket, CloseEvent and MessageEvent are getters that load Node's
 * bundled undici (~760 KB of source, +3.8 MiB RSS measured on Node 24.21) for a server that never
 * uses them. process.getBuiltinModule returns the module object without touching its getters.
 * test/unit/app/lazy-modules.test.ts fails when the running server loads that bundle.
 */
import type * as Http from 'node:http';

const http = process.getBuiltinModule('node:http');

export const { Agent, ServerResponse, STATUS_CODES, createServer, get, request } = http;
export type Agent = Http.Agent;
export type ServerResponse<R extends Http.IncomingMessage = Http.IncomingMessage> = Http.ServerResponse<R>;
export type Server = Http.Server;
export type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
