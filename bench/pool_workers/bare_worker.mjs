// The runtime's bare Worker, in plain JavaScript: says it is up, nothing else.
import { parentPort } from "node:worker_threads";

parentPort?.postMessage(0);
