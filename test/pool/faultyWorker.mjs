// Test-only worker module: the real worker, except that a few ignore_index values inject a fault. Only tests can
// load it (buildApp's poolWorkerFile option); nothing in the environment or HTTP can.
import score from '../../dist/pool/worker.js';

const FAULTS = {
  '-7001': () => process.exit(3), // the thread dies
  '-7002': () => {
    throw 'a thrown string'; // a non-Error
  },
  '-7003': () => {
    const hog = [];
    for (;;) hog.push(new Array(1_000_000).fill(1.5)); // out of memory in the worker
  },
  '-7004': () => {
    for (;;); // never answers
  },
};

/** The real entry point, after the fault that an `"ignore_index": -700N` near the start of the body asks for. */
export default function faulty(job) {
  const match = /"ignore_index":\s*(-700\d)/.exec(new TextDecoder().decode(job.bytes.subarray(0, 300)));
  if (match !== null) FAULTS[match[1]]?.();
  return score(job);
}
