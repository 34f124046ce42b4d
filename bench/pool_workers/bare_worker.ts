// The runtime's bare Worker, in TypeScript (as the pool's own worker is): says it is up.
import { parentPort } from "node:worker_threads";

parentPort?.postMessage(0);
