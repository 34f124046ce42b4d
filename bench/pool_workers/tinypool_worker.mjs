// tinypool's worker: the default export is the task.
export default function inc(x) {
  return x + 1;
}
