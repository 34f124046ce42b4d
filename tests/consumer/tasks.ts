// The user's task module in TypeScript, for the runtimes that run it as it is.
const shared: unknown[] = [];

export function square(x: number): number {
  return x * x;
}

export function sharedList(): unknown[] {
  return shared;
}
