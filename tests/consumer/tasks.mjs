// The user's task module, imported by the workers through fromModule().
const shared = [];

export function square(x) {
  return x * x;
}

export function sharedList() {
  return shared;
}
