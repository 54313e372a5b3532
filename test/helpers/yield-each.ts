/**
 * Setup file (vitest.config.ts): let the worker's event loop turn after every test.
 *
 * Why: a vitest worker (pool 'forks') reports progress to the main process over birpc with a fixed 60 s
 * timeout (vitest 3, `DEFAULT_TIMEOUT`, no option sets it). The runner goes from one test to the next
 * through promise continuations only, so a file of synchronous tests (the IVF unit tests build indexes for
 * 40-50 s on an idle machine here) never reaches the poll phase that reads the reply. Under load it took
 * over 60 s, and as Node runs expired timers before reading I/O, the timeout fired although the reply had
 * arrived: "Timeout calling onTaskUpdate", every test passed, and the run exited 1. One `setImmediate` turn
 * after each test bounds a blocked stretch by the longest single test instead of the whole file.
 */
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
