// poolifier's worker: a ThreadWorker of the task, exported as the module's default.
import { ThreadWorker } from "poolifier";

// Keeps the worker alive until the pool terminates it. Otherwise, once `destroy()`'s kill
// message closes its port, the worker may exit on its own before the pool starts waiting for
// its "exit" event, and `destroy()` never settles (seen on Node in about 1 pool of 20).
setInterval(() => {}, 2 ** 30);

export default new ThreadWorker((x) => x + 1);
