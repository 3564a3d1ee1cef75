/**
 * @deprecated The micro-batch rule lives in `step/micro-batch.ts`; import it from there. This path
 * stays only while `train-job.ts`, which is being rewritten beside this change, imports it.
 */
export * from './step/micro-batch';
