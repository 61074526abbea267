import { readFileSync, existsSync } from 'node:fs';
import { AlsaOutput } from '../../src/cues/output-alsa.js';
import { silentLogger } from '../../src/util/log.js';
import { filePcm } from './alsa.js';
import { outputContract } from './output-contract.js';

outputContract('aplay on an ALSA file PCM', async () => {
  const pcm = filePcm();
  const output = new AlsaOutput({ device: pcm.device, log: silentLogger, env: pcm.env, stallMs: 500 });
  const missing = new AlsaOutput({ device: 'no_such_headset', log: silentLogger, env: pcm.env });
  return {
    output,
    missing,
    captured: () => (existsSync(pcm.capture) ? readFileSync(pcm.capture) : Buffer.alloc(0)),
    breakDevice: () => {
      const pid = output.pid;
      if (pid === undefined) throw new Error('aplay is not running');
      process.kill(pid, 'SIGKILL');
    },
    stallDevice: () => {
      // aplay stops reading its stdin, as it does when the device stops taking periods.
      const pid = output.pid;
      if (pid === undefined) throw new Error('aplay is not running');
      process.kill(pid, 'SIGSTOP');
    },
    cleanup: async () => {
      await output.close();
      await missing.close();
      pcm.cleanup();
    },
  };
});
