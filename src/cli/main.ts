#!/usr/bin/env node
// The executable entry: bin/cairn runs this file from dist/.
import { native } from '../native/index.ts';
import { main } from './index.ts';
import { endQuietlyWhenOutputCloses, exitNow, interrupted } from './signals.ts';

// Packs (16 MiB), pack reads and chunking windows get pages of their own, given back when freed;
// smaller buffers (chunks of about 1 MiB) keep being reused from malloc's arenas. See
// docs/architecture.md, "Memory in flight".
native?.mallocMmapThreshold(4 * 1024 * 1024);

endQuietlyWhenOutputCloses();
const code = await main(process.argv.slice(2));
// An interrupted command may leave work behind that never finishes (a read stuck in the kernel
// keeps the process alive): end now.
if (interrupted()) exitNow(code);
process.exitCode = code;
