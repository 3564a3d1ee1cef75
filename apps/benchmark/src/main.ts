import { BackendUnavailableError, asWasmHeapError } from '@visual-peft/backends';
import { FileSystemError, VisualPeftError } from '@visual-peft/vit-core';
import { DATA_USAGE, data } from './commands/data';
import { DELETION_USAGE, deletion } from './commands/deletion';
import { DEMO_USAGE, demo } from './commands/demo';
import { DEMO_DATA_USAGE, demoData } from './commands/demo-data';
import { DOCTOR_USAGE, doctor } from './commands/doctor';
import { EXPORT_USAGE, IMPORT_USAGE, exportModel, importModel } from './commands/export';
import { MEMORY_USAGE, memory } from './commands/memory';
import { MERGE_USAGE, merge } from './commands/merge';
import { PARAMS_USAGE, params } from './commands/params';
import { PREDICT_USAGE, predict } from './commands/predict';
import { PRETRAIN_USAGE, pretrain } from './commands/pretrain';
import { RUN_USAGE, run } from './commands/run';
import { REPORT_USAGE, report } from './commands/report';
import { SPEED_USAGE, speed } from './commands/speed';
import { TRAIN_USAGE, train } from './commands/train';
import { InterruptedError, UsageError } from './errors';
import type { Io } from './io';
import { processIo } from './io';
import { releaseOutputLocks } from './output-lock';

const COMMANDS: Readonly<Record<string, { run: (args: readonly string[], io: Io) => Promise<void>; usage: string }>> = {
  params: { run: params, usage: PARAMS_USAGE },
  predict: { run: predict, usage: PREDICT_USAGE },
  export: { run: exportModel, usage: EXPORT_USAGE },
  import: { run: importModel, usage: IMPORT_USAGE },
  data: { run: data, usage: DATA_USAGE },
  speed: { run: speed, usage: SPEED_USAGE },
  train: { run: train, usage: TRAIN_USAGE },
  deletion: { run: deletion, usage: DELETION_USAGE },
  memory: { run: memory, usage: MEMORY_USAGE },
  pretrain: { run: pretrain, usage: PRETRAIN_USAGE },
  'demo-data': { run: demoData, usage: DEMO_DATA_USAGE },
  demo: { run: demo, usage: DEMO_USAGE },
  run: { run, usage: RUN_USAGE },
  merge: { run: merge, usage: MERGE_USAGE },
  report: { run: report, usage: REPORT_USAGE },
  doctor: { run: doctor, usage: DOCTOR_USAGE },
};

const USAGE = ['usage: visual-peft-bench <command> [flags]', ...Object.values(COMMANDS).map((command) => `  ${command.usage}`)].join('\n');

/**
 * Runs one command and returns the exit code. Bad input ends in one line on stderr naming what is
 * wrong, never a stack trace: exit 2 for a wrong command line, 1 for a wrong file or backend or a
 * file system that refused (`<path>: cannot be written: <what> (<errno>); <remedy>`); 70 is a bug.
 */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.stdout(USAGE);
    return name === undefined ? 2 : 0;
  }
  try {
    const command = COMMANDS[name];
    if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')}`);
    await command.run(args, io);
    await releaseOutputLocks({ failed: false });
    return 0;
  } catch (error) {
    // The output folders' locks go first (a failed command's empty new folders with them), whatever the error.
    await releaseOutputLocks({ failed: true });
    if (error instanceof InterruptedError) {
      io.stderr(`visual-peft-bench: ${error.message}`);
      return 130;
    }
    if (error instanceof UsageError) {
      io.stderr(`visual-peft-bench: ${error.message}`);
      return 2;
    }
    // A raw Node errno (a folder the command could not create, list or write) is an environment
    // fault with a path and a remedy, not a bug.
    const known = error instanceof VisualPeftError || error instanceof BackendUnavailableError ? error : (FileSystemError.from(error) ?? asWasmHeapError(error));
    if (known !== null) {
      io.stderr(`visual-peft-bench: ${known.message}`);
      return 1;
    }
    const detail = process.env.VISUAL_PEFT_DEBUG === '1' && error instanceof Error ? `\n${error.stack}` : ' (set VISUAL_PEFT_DEBUG=1 for the stack trace)';
    io.stderr(`visual-peft-bench: internal error: ${error instanceof Error ? error.message : String(error)}${detail}`);
    return 70;
  }
}
