/**
 * Named scripts, for the system administrator: programs defined once that jobs name in runBefore,
 * runAfter and hooks (tenants' jobs may name only these, and only those granted to them).
 */
import { useState, type FormEvent } from 'react';
import { api, hasLink, type NamedScript } from '../api.ts';
import { duration } from '../format.ts';
import {
  Card,
  Empty,
  ErrorBox,
  Field,
  fieldError,
  Loading,
  Notice,
  PageTitle,
  useApi,
  useSession,
} from '../ui.tsx';

/** The words as one line a shell would split back into the same words. */
export function commandLine(words: readonly string[]): string {
  return words
    .map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

/**
 * One line split into words as a shell would (commandLine's inverse): blanks separate words,
 * single quotes keep everything, double quotes everything but a backslash before a double quote,
 * backslash, dollar or backtick, and a backslash outside quotes keeps the next character. No shell
 * runs the words. Throws an Error naming what is not closed.
 */
export function commandWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`a single quote is not closed (column ${i + 1})`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length && '"\\$`'.includes(line[j + 1]!)) j++;
        word += line[j];
      }
      if (j >= line.length) throw new Error(`a double quote is not closed (column ${i + 1})`);
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new Error('the line ends in a backslash');
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

const names = (s: string) =>
  s
    .split(/[,\s]+/)
    .map((t) => t.trim())
    .filter(Boolean);

export function Scripts() {
  const { session } = useSession();
  const sys = session.user.systemAdmin;
  const scripts = useApi<{ data: NamedScript[] }>(sys ? 'scripts' : null);
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const [editing, setEditing] = useState<NamedScript>();
  if (!sys)
    return (
      <>
        <PageTitle>Scripts</PageTitle>
        <p>Only the system administrator defines scripts.</p>
      </>
    );
  return (
    <>
      <PageTitle>Scripts</PageTitle>
      <p className="muted">
        Programs defined once that jobs name before or after a backup and in hooks. A tenant’s jobs may name
        only the scripts granted to the tenant, and never see their commands.
      </p>
      <ErrorBox error={error ?? scripts.error} />
      {notice && <Notice kind="success">{notice}</Notice>}
      <div className="grid">
        <Card title="Scripts" className="span-2">
          {!scripts.data && !scripts.error && <Loading />}
          {scripts.data && scripts.data.data.length === 0 && <Empty>No scripts yet.</Empty>}
          {scripts.data && scripts.data.data.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Command</th>
                  <th scope="col">Tenants</th>
                  <th scope="col">Time limit</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {scripts.data.data.map((sc) => (
                  <tr key={sc.id}>
                    <td>
                      <strong>{sc.name}</strong>
                      {sc.description && <div className="muted">{sc.description}</div>}
                      {sc.origin === 'config' && <div className="muted">(configuration file)</div>}
                    </td>
                    <td className="path-cell">
                      <code>{commandLine(sc.command ?? [])}</code>
                    </td>
                    <td>
                      {(sc.tenants ?? []).length === 0 ? (
                        <span className="muted">none</span>
                      ) : (
                        (sc.tenants ?? []).map((t) => (t === '*' ? 'all tenants' : t)).join(', ')
                      )}
                    </td>
                    <td>{sc.timeoutSeconds ? duration(sc.timeoutSeconds) : '–'}</td>
                    <td className="actions">
                      {hasLink(sc, 'edit') && (
                        <button
                          type="button"
                          className="small"
                          aria-label={`Edit script ${sc.name}`}
                          onClick={() => {
                            setNotice(undefined);
                            setEditing(sc);
                          }}
                        >
                          Edit
                        </button>
                      )}
                      {hasLink(sc, 'delete') && (
                        <button
                          type="button"
                          className="small danger ghost"
                          aria-label={`Withdraw script ${sc.name}`}
                          onClick={() => {
                            if (
                              !window.confirm(
                                `Withdraw script ${sc.name}? Jobs that name it fail until they are changed.`,
                              )
                            )
                              return;
                            setError(undefined);
                            api('DELETE', `scripts/${sc.id}`).then(
                              () => {
                                setNotice(`Script ${sc.name} withdrawn.`);
                                if (editing?.id === sc.id) setEditing(undefined);
                                scripts.reload();
                              },
                              (err: unknown) => setError(err),
                            );
                          }}
                        >
                          Withdraw
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
        <ScriptForm
          key={editing?.id ?? 'new'}
          script={editing}
          onCancel={() => setEditing(undefined)}
          onSaved={(sc) => {
            setNotice(`Script ${sc.name} ${editing ? 'changed' : 'defined'}.`);
            setEditing(undefined);
            scripts.reload();
          }}
        />
      </div>
    </>
  );
}

function ScriptForm({
  script,
  onSaved,
  onCancel,
}: {
  script: NamedScript | undefined;
  onSaved: (s: NamedScript) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState(script?.name ?? '');
  const [command, setCommand] = useState(script ? commandLine(script.command ?? []) : '');
  const [description, setDescription] = useState(script?.description ?? '');
  const [timeout, setTimeoutSeconds] = useState(script?.timeoutSeconds ? String(script.timeoutSeconds) : '');
  const [tenants, setTenants] = useState((script?.tenants ?? []).join(', '));
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const body = {
      name: name.trim(),
      command: command.trim(),
      description: description.trim(),
      ...(timeout.trim() ? { timeoutSeconds: Number(timeout) } : {}),
      tenants: names(tenants),
    };
    const call = script
      ? api<NamedScript>('PATCH', `scripts/${script.id}`, body)
      : api<NamedScript>('POST', 'scripts', body);
    call.then(
      (sc) => {
        setBusy(false);
        onSaved(sc);
      },
      (err: unknown) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  return (
    <Card title={script ? `Edit script ${script.name}` : 'Define a script'}>
      <form onSubmit={submit}>
        <ErrorBox error={error} title={script ? 'Cannot change the script' : 'Cannot define the script'} />
        <Field
          label="Name"
          hint="Letters, digits, dot, dash and underscore."
          error={fieldError(error, 'name')}
        >
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              required
              autoComplete="off"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
        <Field
          label="Command"
          hint="The program and its arguments in one line, split into words as a shell would; no shell runs it."
          error={fieldError(error, 'command')}
        >
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              className="mono"
              required
              placeholder="/usr/local/bin/dump-db --quiet"
              value={command}
              onChange={(e) => setCommand(e.target.value)}
            />
          )}
        </Field>
        <Field
          label="Description"
          hint="What tenants see instead of the command."
          error={fieldError(error, 'description')}
        >
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              value={description}
              onChange={(e) => setDescription(e.target.value)}
            />
          )}
        </Field>
        <Field label="Time limit (seconds)" error={fieldError(error, 'timeoutSeconds')}>
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              type="number"
              min={1}
              value={timeout}
              onChange={(e) => setTimeoutSeconds(e.target.value)}
            />
          )}
        </Field>
        <Field
          label="Granted to tenants"
          hint="Tenant names, separated by commas; * for every tenant; empty: system administrators' jobs only."
          error={fieldError(error, 'tenants')}
        >
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              placeholder="acme, globex"
              value={tenants}
              onChange={(e) => setTenants(e.target.value)}
            />
          )}
        </Field>
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : script ? 'Save the script' : 'Define the script'}
          </button>
          {script && (
            <button type="button" className="ghost" onClick={onCancel}>
              Cancel
            </button>
          )}
        </div>
      </form>
    </Card>
  );
}
