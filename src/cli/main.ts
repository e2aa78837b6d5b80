#!/usr/bin/env node
// The executable entry: bin/cairn runs this file from dist/.
import { main } from './index.ts';

process.exitCode = await main(process.argv.slice(2));
