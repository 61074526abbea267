/** vitest globalSetup: after the run, docs/reliability.md is rewritten from the fault cases' results. */
import { writeReport } from './report.js';

export default function setup(): () => void {
  return () => {
    writeReport();
  };
}
