#!/usr/bin/env node
// Node 24 runs the TypeScript sources directly (type stripping): no build step.
import { main } from '../frontends/cli/main.ts';
import { hideBin } from 'yargs/helpers';

await main(hideBin(process.argv));
