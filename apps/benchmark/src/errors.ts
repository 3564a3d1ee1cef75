import { VisualPeftError } from '@visual-peft/vit-core';

/** The command line itself is wrong: unknown command, unknown or missing flag, bad value. */
export class UsageError extends VisualPeftError {}

/** Ctrl-C (or an abort signal) stopped the command at a step boundary: what it wrote stays, running it again resumes. Exit 130. */
export class InterruptedError extends VisualPeftError {}
