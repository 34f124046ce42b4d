// The names both entry points export: everything but `Pool`, `Process` and `Manager`, whose
// work runs in Workers (mod.ts) or on the calling thread (dummy.ts). Locks, queues, pipes and
// shared values are the same classes in both: they work across workers and on one thread.
export {
  type ApplyOptions,
  AsyncResult,
  BasePool,
  type MapAsyncOptions,
  type PoolOptions,
} from "./pool.ts";
export { activeChildren, BaseProcess, type ProcessOptions } from "./process.ts";
export { fromModule, type ModuleFunction, type TaskFunction } from "./reduction.ts";
export { type ClassOptions, registerClass } from "./_classes.ts";
export {
  cpuCount,
  currentProcess,
  parentProcess,
  type ParentProcessInfo,
  type ProcessInfo,
} from "./context.ts";
export {
  Array,
  type BigIntTypecode,
  type ElementType,
  type LockLike,
  RawArray,
  RawValue,
  type SharedTypedArray,
  type SharedTypedArrays,
  type SharedValue,
  type SynchronizedArray,
  type SynchronizedArrayMethods,
  type SynchronizedOptions,
  type SynchronizedValue,
  type Typecode,
  Value,
} from "./sharedctypes.ts";
export {
  type AcquireOptions,
  Barrier,
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  RLock,
  Semaphore,
} from "./synchronize.ts";
export {
  type GetOptions,
  JoinableQueue,
  type PutOptions,
  Queue,
  type QueueOptions,
  SimpleQueue,
} from "./queues.ts";
export { Connection, Pipe, type PipeOptions } from "./connection.ts";
export {
  AcquirerProxy,
  type Address,
  ArrayProxy,
  AsyncResultProxy,
  AutoProxy,
  BarrierProxy,
  BaseManager,
  BaseProxy,
  ConditionProxy,
  DictProxy,
  EventProxy,
  ListProxy,
  type ManagerDebugInfo,
  type ManagerOptions,
  NamespaceProxy,
  PoolProxy,
  type ProxyToken,
  type ProxyType,
  QueueProxy,
  type RegisterOptions,
  Server,
  SyncManager,
  ValueProxy,
} from "./managers.ts";
export {
  AuthenticationError,
  BrokenBarrierError,
  BufferTooShort,
  Empty,
  EOFError,
  Full,
  ProcessError,
  RemoteError,
  RemoteTraceback,
  TimeoutError,
  WorkerExitError,
} from "./errors.ts";
