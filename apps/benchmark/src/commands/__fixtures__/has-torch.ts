import { execFileSync } from 'node:child_process';

/** Whether Debian's PyTorch imports here (the PyTorch reference's tests run only then). */
export const hasTorch = (() => {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
