// Test-only worker module: the real worker, except that a few ignore_index values inject a fault. Only tests can
// load it (buildApp's poolWorkerFile option); nothing in the environment or HTTP can.
import score, { scoreJson as scoreJsonReal } from '../../dist/pool/worker.js';

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

function inject(key) {
  const fault = FAULTS[key];
  if (fault !== undefined) fault();
}

export default function faulty(task) {
  inject(String(task.ignoreIndex));
  return score(task);
}

export function scoreJson(job) {
  const match = /"ignore_index":\s*(-700\d)/.exec(new TextDecoder().decode(job.bytes.subarray(0, 200)));
  if (match !== null) inject(match[1]);
  return scoreJsonReal(job);
}
