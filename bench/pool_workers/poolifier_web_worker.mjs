// poolifier-web-worker's worker (a Web Worker): a ThreadWorker of the task.
import { ThreadWorker } from "poolifier-web-worker";

export default new ThreadWorker((x) => x + 1);
