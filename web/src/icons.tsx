/** Small inline icons (no icon font, no emoji: a server without fonts draws them the same). */
import type { EntryType } from './api.ts';

export function EntryIcon({ type }: { type: EntryType }) {
  const common = {
    width: 16,
    height: 16,
    viewBox: '0 0 16 16',
    'aria-hidden': true,
    className: `icon icon-${type}`,
  };
  if (type === 'dir')
    return (
      <svg {...common}>
        <path d="M1.5 3.5a1 1 0 0 1 1-1h3.6l1.5 1.6h5.9a1 1 0 0 1 1 1v7.4a1 1 0 0 1-1 1h-11a1 1 0 0 1-1-1z" />
      </svg>
    );
  if (type === 'symlink')
    return (
      <svg {...common}>
        <path d="M3 2.5h6.5L13 6v7.5H3z" />
        <path d="M6 11.5 9.5 8M7 8h2.5v2.5" className="stroke" />
      </svg>
    );
  return (
    <svg {...common}>
      <path d="M3 1.5h6.5L13 5v9.5H3z" />
      <path d="M9.5 1.5V5H13" className="stroke" />
    </svg>
  );
}
