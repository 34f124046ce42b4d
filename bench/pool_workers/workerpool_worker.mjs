// workerpool's worker: registers the task by name for `pool.exec("inc", [x])`.
import workerpool from "workerpool";

workerpool.worker({ inc: (x) => x + 1 });
