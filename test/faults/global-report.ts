/**
 * vitest globalSetup: the results folder is emptied before the run and docs/reliability.md is
 * rewritten from this run's fault cases after it, so the table never mixes runs.
 */
import { clearFaultResults, writeReport } from './report.js';

export default function setup(): () => void {
  clearFaultResults();
  return () => {
    writeReport();
  };
}
