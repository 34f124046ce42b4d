// A bare Worker that answers the one message it is sent, after importing the modules it is
// given (workerData: their URLs; none for the bare case): the least a pool's worker does
// before its first result, without the pool. It answers from its listener, with no top-level
// await, so that the case with no import is a Worker's start and one message each way.
import { parentPort, workerData } from "node:worker_threads";

const loaded = workerData.length === 0
  ? undefined
  : Promise.all(workerData.map((url) => import(url)));
parentPort.once("message", (x) => {
  if (loaded === undefined) parentPort.postMessage(x + 1);
  else loaded.then(() => parentPort.postMessage(x + 1));
});
