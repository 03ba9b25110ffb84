/**
 * The Solver seam is the ACME flow's (acme/solver.ts: acme/ imports nothing of ours); the solvers
 * of this folder implement it.
 */
export type { ChallengeInfo, Solver } from '../acme/solver.ts';
