// Every module that defines shareable classes, imported by the worker bootstraps so that each
// kind can be revived in every worker, whatever the task imports.
import "./connection.ts";
import "./process.ts";
import "./queues.ts";
import "./sharedctypes.ts";
import "./synchronize.ts";
