// What one update of the agent state changed that someone outside must act on: the daemon hands
// it to the observer (logs, metrics, Events), to the delivery receipts, and to the dedicated ports.
// A record returned, not a callback: the state never calls out into its caller.
import type { Answer } from './answer.js';
import type { GuardResult } from './mass-drain-guard.js';
import type { AnnotationProblem } from './views.js';

/** What one update changed that the daemon must act on: words for the operator, dedicated ports. */
export interface Changes {
  /** The node answer changed (its text or its why). known: our Node exists; held: the guard holds it. */
  readonly nodeAnswer?: { from: Answer; to: Answer; known: boolean; held: boolean };
  /** The mass-drain guard's verdict changed (engaged, released, or other nodes held). */
  readonly guard?: { from: GuardResult; to: GuardResult };
  /** A Service appeared (from undefined), changed its weight, or went away (to undefined). */
  readonly serviceWeight?: { key: string; from: number | undefined; to: number | undefined };
  /** Bad annotations, each once per change of its value; subject "node/NAME" or "namespace/name". */
  readonly problems: ReadonlyArray<{ subject: string; problem: AnnotationProblem }>;
  /** Some Service's agent-port annotation changed: the dedicated listeners need reconciling. */
  readonly agentPorts: boolean;
}

export const NO_CHANGES: Changes = Object.freeze({ problems: [], agentPorts: false });

/** Changes gathered during one update; the node answer is compared once, at the end. */
export interface Pending {
  nodeFrom?: Answer;
  guard?: Changes['guard'];
  problems: Array<{ subject: string; problem: AnnotationProblem }>;
}

/** The Changes of one update; the node answer counts as changed only if it differs at the end. */
export function finish(p: Pending, current: Answer, known: boolean, held: boolean): Changes {
  const from = p.nodeFrom;
  return {
    problems: p.problems,
    agentPorts: false,
    ...(p.guard === undefined ? {} : { guard: p.guard }),
    ...(from === undefined || from === current ? {} : { nodeAnswer: { from, to: current, known, held } }),
  };
}
