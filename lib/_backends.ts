// The back ends of a public base class (BasePool, BaseProcess): each entry point's subclass
// registers where its work runs, and an instance finds it along its class's prototype chain,
// so user subclasses of either `Pool` or `Process` run where their parent class does.

/** Back ends by class. */
export class BackendRegistry<B> {
  #backends = new Map<unknown, B>();
  #missing: string;

  /** @param missing The error message for a class without a back end (the base itself). */
  constructor(missing: string) {
    this.#missing = missing;
  }

  /** Sets the back end of `cls` and its subclasses. */
  register(cls: abstract new (...args: never[]) => unknown, backend: B): void {
    this.#backends.set(cls, backend);
  }

  /**
   * The back end of the class being constructed (`new.target`).
   *
   * @throws {TypeError} If no class on its prototype chain has one.
   */
  find(target: unknown): B {
    for (let c = target; c != null; c = Object.getPrototypeOf(c)) {
      const backend = this.#backends.get(c);
      if (backend !== undefined) return backend;
    }
    throw new TypeError(this.#missing);
  }
}
