/**
 * `cairn version` and `cairn completion bash|zsh|fish`: the completion scripts are made from the
 * command tree itself (commands, their subcommands and options), so they never fall behind it.
 */
import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { VERSION } from '../version.ts';
import type { GlobalOptions } from './context.ts';
import { makeOutput } from './output.ts';

const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

interface Node {
  /** Command words from the top: [] for cairn itself, ['key', 'add'] for `cairn key add`. */
  readonly path: readonly string[];
  readonly description: string;
  readonly subcommands: readonly string[];
  readonly options: readonly { flags: readonly string[]; description: string; takesValue: boolean }[];
}

function optionsOf(c: Command): Node['options'] {
  return c.options
    .filter((o) => !o.hidden)
    .map((o) => ({
      flags: [o.short, o.long].filter((f): f is string => typeof f === 'string'),
      description: o.description,
      takesValue: o.required || o.optional,
    }));
}

/** Every command of the tree, cairn itself first, with what can follow it. */
export function commandTree(program: Command): Node[] {
  const out: Node[] = [];
  const visit = (c: Command, path: readonly string[]) => {
    const subs = c.commands.filter((s) => !(s as Command & { _hidden?: boolean })._hidden);
    out.push({
      path,
      description: c.description(),
      subcommands: subs.map((s) => s.name()),
      options: [...optionsOf(c), ...(path.length > 0 ? optionsOf(program) : [])],
    });
    for (const s of subs) visit(s, [...path, s.name()]);
  };
  visit(program, []);
  return out;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function bash(nodes: readonly Node[]): string {
  const cases = nodes
    .map((n) => {
      const words = [...n.subcommands, ...n.options.flatMap((o) => o.flags)].join(' ');
      const valued = n.options.filter((o) => o.takesValue).flatMap((o) => o.flags);
      return `    ${quote(n.path.join(' '))})\n      words=${quote(words)}\n      valued=${quote(valued.join(' '))}\n      ;;`;
    })
    .join('\n');
  const names = new Set(nodes.flatMap((n) => n.subcommands));
  return `# bash completion for cairn ${VERSION} (made by: cairn completion bash)
# Load it with:  source <(cairn completion bash)   or save it as
# /etc/bash_completion.d/cairn
_cairn() {
  local cur prev path="" w i words valued
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case " ${[...names].join(' ')} " in
      *" $w "*) path="\${path:+$path }$w" ;;
    esac
  done
  case "$path" in
${cases}
    *) words="" valued="" ;;
  esac
  case " $valued " in
    *" $prev "*) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* || -n "$words" ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
  if [[ \${#COMPREPLY[@]} -eq 0 ]]; then COMPREPLY=($(compgen -f -- "$cur")); fi
}
complete -F _cairn cairn
`;
}

function zsh(nodes: readonly Node[]): string {
  // zsh runs bash completions through bashcompinit: one script to keep true, not two.
  return `#compdef cairn
# zsh completion for cairn ${VERSION} (made by: cairn completion zsh)
# Load it with:  source <(cairn completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash(nodes)}`;
}

function fish(nodes: readonly Node[]): string {
  const lines = [
    `# fish completion for cairn ${VERSION} (made by: cairn completion fish)`,
    '# Load it with:  cairn completion fish | source',
    'complete -c cairn -f',
  ];
  for (const n of nodes) {
    const seen =
      n.path.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${n.path.at(-1)}`;
    for (const s of n.subcommands) {
      const child = nodes.find((x) => x.path.join(' ') === [...n.path, s].join(' '));
      lines.push(`complete -c cairn -n ${quote(seen)} -a ${quote(s)} -d ${quote(child?.description ?? '')}`);
    }
    if (n.path.length === 0) continue;
    for (const o of n.options) {
      const long = o.flags.find((f) => f.startsWith('--'))?.slice(2);
      const short = o.flags.find((f) => /^-[^-]/.test(f))?.slice(1);
      lines.push(
        `complete -c cairn -n ${quote(seen)}${long ? ` -l ${long}` : ''}${short ? ` -s ${short}` : ''}${o.takesValue ? ' -r -F' : ''} -d ${quote(o.description)}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

export function registerCompletion(program: Command): void {
  program
    .command('version')
    .description('print the version (with --json: also Node and the platform)')
    .action((_flags: unknown, cmd: Command) => {
      const out = makeOutput(cmd.optsWithGlobals<GlobalOptions>());
      out.line(`cairn ${VERSION}`);
      out.emit({
        message_type: 'version',
        version: VERSION,
        node: process.versions.node,
        platform: process.platform,
        arch: process.arch,
      });
    });
  program
    .command('completion')
    .description('print a completion script for bash, zsh or fish')
    .argument('<shell>', SHELLS.join(', '))
    .addHelpText(
      'after',
      `
Examples:
  source <(cairn completion bash)          this shell; add it to ~/.bashrc to keep it
  cairn completion bash > /etc/bash_completion.d/cairn
  source <(cairn completion zsh)
  cairn completion fish > ~/.config/fish/completions/cairn.fish`,
    )
    .action((shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell))
        throw new CairnError(
          'USAGE',
          `Cannot make a completion script for "${shell}": give ${SHELLS.join(', ')}`,
        );
      const nodes = commandTree(program);
      const make: Record<Shell, (n: readonly Node[]) => string> = { bash, zsh, fish };
      process.stdout.write(make[shell as Shell](nodes));
    });
}
