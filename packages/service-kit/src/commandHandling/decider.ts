/** Pure domain logic of an aggregate (emmett's decider): no I/O, tested with given/when/then. */
export interface Decider<State, Command, Event> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
}

/** The state after `events`, from the initial state. */
export function foldEvents<State, Command, Event>(decider: Decider<State, Command, Event>, events: Event[]): State {
  return events.reduce((state, event) => decider.evolve(state, event), decider.initialState());
}
