#!/usr/bin/env python3
"""sqlite: a Cairn command plugin that backs up an SQLite database as an SQL dump.

    cairn backup --plugin-dir examples/plugins/python --source 'sqlite:db=/srv/app/app.db'
    cairn restore latest --target /tmp/r --plugin-dir examples/plugins/python
    cairn restore latest --target /tmp/r --plugin-dir examples/plugins/python \
        --plugin-options 'sqlite:restoreTo=/srv/app/restored.db'

Backup reads the database in one read transaction (a consistent dump while the application
writes) and stores the SQL text under /sqlite/<name>.sql. Every level stores a whole dump:
SQLite has no log to take increments from, and Cairn's deduplication stores only the chunks that
changed. The state kept in the snapshot (row counts per table, the dump's SHA-256) lets the next
run say what changed. Restore replays the SQL into a new database, at restoreTo or, by default,
at the database's path under the restore target; an existing database is replaced only with
replace=yes (atomically: the new one is built beside it and renamed).
"""

import codecs
import hashlib
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cairn_plugin import Plugin, PluginError, run  # noqa: E402

PIECE = 256 * 1024


class SQLitePlugin(Plugin):
    name = "sqlite"
    version = "1.0.0"
    description = "backs up an SQLite database as an SQL dump; restores it into a new database"
    options = {
        "db": {
            "type": "path",
            "required": True,
            "identity": True,
            "description": "the database file to back up",
        },
        "file": {
            "type": "path",
            "description": "the pseudo path of the dump in the snapshot (default /sqlite/<name>.sql)",
        },
        "restoreTo": {
            "type": "path",
            "description": "at restore: the database to create (default: the db path under the target)",
        },
        "replace": {
            "type": "boolean",
            "default": False,
            "description": "at restore: replace a database that exists there",
        },
    }

    def backup(self, ctx):
        db = os.path.abspath(ctx.options["db"])
        if not os.path.isfile(db):
            raise PluginError("cannot back up %s: no such database file" % db)
        name = os.path.basename(db)
        pseudo = ctx.options.get("file") or "/sqlite/%s.sql" % name
        if not pseudo.startswith("/"):
            pseudo = "/" + pseudo
        conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        digest = hashlib.sha256()
        counts = {}
        try:
            # One read transaction: the dump and the counts see one state of the database.
            conn.execute("BEGIN")
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            for t in tables:
                counts[t] = conn.execute('SELECT count(*) FROM "%s"' % t.replace('"', '""')).fetchone()[0]

            def dump():
                buf = []
                size = 0
                for line in conn.iterdump():
                    b = (line + "\n").encode("utf-8")
                    buf.append(b)
                    size += len(b)
                    if size >= PIECE:
                        chunk = b"".join(buf)
                        digest.update(chunk)
                        yield chunk
                        buf, size = [], 0
                chunk = b"".join(buf)
                digest.update(chunk)
                yield chunk

            yield {"path": pseudo, "type": "file", "mode": os.stat(db).st_mode & 0o7777, "data": dump()}
            conn.execute("COMMIT")
        finally:
            conn.close()
        before = (ctx.previous or {}).get("state") or {}
        changed = [t for t in counts if before.get("tables", {}).get(t) != counts[t]]
        if before:
            ctx.log(
                "%s: %d tables, %d rows; %s since the last run"
                % (name, len(counts), sum(counts.values()), ", ".join(changed) + " changed" if changed else "row counts unchanged")
            )
        else:
            ctx.log("%s: %d tables, %d rows (first run)" % (name, len(counts), sum(counts.values())))
        ctx.set_state(
            {
                "db": db,
                "tables": counts,
                "sha256": digest.hexdigest(),
                "dumps": int(before.get("dumps", 0)) + 1,
            }
        )

    def restore_entry(self, ctx, entry):
        if entry.type != "file" or not entry.path.endswith(".sql"):
            return "core"
        db = (ctx.state or {}).get("db") or os.path.abspath(ctx.options["db"])
        dest = ctx.options.get("restoreTo") or os.path.join(ctx.target, db.lstrip("/"))
        dest = os.path.abspath(dest)
        if os.path.exists(dest) and not ctx.options.get("replace"):
            raise PluginError("cannot restore %s into %s: it exists (give sqlite:replace=yes to replace it)" % (entry.path, dest))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = dest + ".cairn-restore"
        if os.path.exists(tmp):
            os.remove(tmp)
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            decoder = codecs.getincrementaldecoder("utf-8")()
            pending = ""
            statement = ""
            for chunk in entry.data:
                pending += decoder.decode(chunk)
                *lines, pending = pending.split("\n")
                for line in lines:
                    statement += line + "\n"
                    if sqlite3.complete_statement(statement):
                        conn.execute(statement)
                        statement = ""
            statement += pending + decoder.decode(b"", final=True)
            if statement.strip():
                conn.execute(statement)
        except Exception:
            conn.close()
            os.remove(tmp)
            raise
        conn.close()
        os.chmod(tmp, entry.mode & 0o7777)
        os.replace(tmp, dest)
        ctx.log("restored %s into %s" % (entry.path, dest))
        return "restored"


if __name__ == "__main__":
    run(SQLitePlugin())
