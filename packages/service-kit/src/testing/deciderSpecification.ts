import assert from 'node:assert/strict';
import type { Decider } from '../commandHandling/decider.js';

/** What a decider did with one command given some past events. */
export interface DeciderOutcome<State, Event> {
  /** The state the command was decided on. */
  state: State;
  /** The events decided (throws what `decide` threw). */
  events(): Event[];
  /** The decided events are exactly these. */
  thenEmits(expected: Event[]): void;
  /** A repeat: nothing is decided. */
  thenNothingHappened(): void;
  /** `decide` refused the command with this kind of error (and, if given, it passes `check`). */
  thenThrows<E extends Error>(kind: new (...args: never[]) => E, check?: (error: E) => void): void;
}

export interface DeciderGiven<State, Command, Event> {
  state: State;
  when(command: Command): DeciderOutcome<State, Event>;
}

/**
 * given/when/then for a decider, as emmett spells it:
 *
 *   const given = DeciderSpecification.for(tenantDecider);
 *   given(registered).when(suspend).thenThrows(TenantRuleViolation);
 *
 * Pure: it folds the given events with `evolve` and calls `decide`; no I/O, no framework.
 */
export const DeciderSpecification = {
  for<State, Command, Event>(decider: Decider<State, Command, Event>) {
    return (...given: Event[]): DeciderGiven<State, Command, Event> => {
      const state = given.reduce((current, event) => decider.evolve(current, event), decider.initialState());
      return {
        state,
        when(command) {
          const events = () => decider.decide(command, state);
          return {
            state,
            events,
            thenEmits: (expected) => assert.deepStrictEqual(events(), expected),
            thenNothingHappened: () => assert.deepStrictEqual(events(), []),
            thenThrows(kind, check) {
              let thrown: unknown;
              try {
                events();
              } catch (error) {
                thrown = error;
              }
              assert.ok(thrown instanceof kind, `expected decide to throw ${kind.name}, got ${String(thrown)}`);
              check?.(thrown);
            },
          };
        },
      };
    };
  },
};
