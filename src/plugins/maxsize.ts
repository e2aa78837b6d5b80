/**
 * maxsize, an option plugin: `cairn backup /home --option-plugin maxsize:size=1G` leaves out files
 * larger than the size (restic's --exclude-larger-than), counts them, and with `warn=yes` lists
 * each as a warning. Its state in the snapshot is what it left out: `{ skipped, bytes }`.
 */
import { PLUGIN_API_VERSION, type BackupContext, type FileCalls, type OptionPlugin } from './api.ts';

export const maxsize: OptionPlugin = {
  name: 'maxsize',
  kind: 'option',
  apiVersion: PLUGIN_API_VERSION,
  version: '1.0.0',
  description: 'leaves out files larger than a size',
  options: {
    size: {
      type: 'size',
      required: true,
      min: 0,
      description: 'the largest file size backed up, e.g. 100M or 2G',
    },
    warn: {
      type: 'boolean',
      default: false,
      description: 'list each file left out as a warning (default: count them only)',
    },
  },
  start(ctx: BackupContext): FileCalls {
    const limit = Number(ctx.options.size);
    const warn = ctx.options.warn === true;
    let skipped = 0;
    let bytes = 0;
    return {
      before(file) {
        if (file.type !== 'file' || file.size <= limit) return undefined;
        skipped++;
        bytes += file.size;
        if (warn)
          ctx.log('warning', `${file.path}: left out: ${file.size} bytes is over the limit of ${limit}`);
        return 'skip';
      },
      end() {
        if (skipped > 0) ctx.log('info', `left out ${skipped} files over ${limit} bytes (${bytes} bytes)`);
        return { skipped, bytes };
      },
    };
  },
};
