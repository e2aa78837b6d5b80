/**
 * Whether the server's address is free, asked before anything of the server is made: a taken
 * port used to end the start with "unexpected failure" after the catalog and the administrator's
 * password file were created. Where Linux tells (/proc), the message names the process that holds
 * the port.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { CairnError, errnoCode, reason } from '../errors.ts';

/** The inodes of the listening TCP sockets on `port` (/proc/net/tcp and tcp6). */
function listeningInodes(port: number): Set<string> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; the inode is the tenth field.
      if (f.length > 9 && f[1]?.endsWith(`:${hex}`) && f[3] === '0A' && f[9] !== '0') inodes.add(f[9]!);
    }
  }
  return inodes;
}

/** "nginx (pid 812)" for the process holding a listening socket on `port`, where /proc says. */
export function holderOf(port: number): string | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1]!)) {
        let name = '';
        try {
          name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        } catch {
          // gone meanwhile: the pid alone
        }
        return name ? `${name} (pid ${pid})` : `pid ${pid}`;
      }
    }
  }
  return undefined;
}

/**
 * Throws ADDRESS_IN_USE (or the reason it cannot listen) unless `host:port` can be listened on
 * now. Port 0 (any free port) is always free.
 */
export async function checkAddress(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) => {
      const code = errnoCode(err);
      if (code === 'EADDRINUSE') {
        const holder = holderOf(port);
        reject(
          new CairnError(
            'ADDRESS_IN_USE',
            `Cannot listen on ${where}: the address is taken${holder ? ` by ${holder}` : ' (by a process this user cannot see)'}; stop it, or give another with --listen HOST:PORT`,
          ),
        );
      } else if (code === 'EACCES')
        reject(
          new CairnError(
            'USAGE',
            `Cannot listen on ${where}: ports below 1024 need root (or CAP_NET_BIND_SERVICE); give another with --listen HOST:PORT`,
          ),
        );
      else if (code === 'EADDRNOTAVAIL')
        reject(new CairnError('USAGE', `Cannot listen on ${where}: this machine has no such address`));
      else
        reject(new CairnError('ADDRESS_IN_USE', `Cannot listen on ${where}: ${reason(err)}`, { cause: err }));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
