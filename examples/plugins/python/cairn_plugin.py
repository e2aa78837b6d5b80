"""A small library for Cairn out-of-process plugins in Python 3 (standard library only).

It speaks the plugin protocol of docs/plugin-api.md (API version 1): frames on standard input
and output, each `type[1] || length[4, big-endian] || payload`, where type b"J" carries one
JSON-RPC 2.0 message and type b"D" carries `stream[4, big-endian] || bytes` (no bytes: the end of
that stream). A plugin subclasses `Plugin` and calls `run(MyPlugin())`.

Standard output belongs to the protocol: `print` goes to standard error here, which Cairn
writes to its log (and quotes, at the end, in the message when the plugin fails).
"""

import json
import struct
import sys
import traceback

API_VERSION = 1
FRAME_JSON = 0x4A
FRAME_DATA = 0x44
DATA_PIECE = 1024 * 1024

__all__ = ["API_VERSION", "Plugin", "PluginError", "Context", "run"]


class PluginError(Exception):
    """A failure to report to Cairn: its message ends up in Cairn's error message."""


class ProtocolError(Exception):
    pass


class _Pipe:
    """Frames over a pair of binary streams."""

    def __init__(self, rin, wout):
        self.rin = rin
        self.wout = wout

    def _read_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.rin.read(n - len(buf))
            if not chunk:
                if buf:
                    raise ProtocolError("standard input ends inside a frame")
                return None
            buf += chunk
        return bytes(buf)

    def read_frame(self):
        """(b"J", message) or (b"D", (stream, bytes)); None when standard input closes."""
        head = self._read_exact(5)
        if head is None:
            return None
        kind, length = head[0], struct.unpack(">I", head[1:5])[0]
        payload = self._read_exact(length) if length else b""
        if payload is None:
            raise ProtocolError("standard input ends inside a frame")
        if kind == FRAME_JSON:
            return ("J", json.loads(payload.decode("utf-8")))
        if kind == FRAME_DATA:
            return ("D", (struct.unpack(">I", payload[:4])[0], payload[4:]))
        raise ProtocolError("a frame of unknown type %r" % kind)

    def send_json(self, message):
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        self.wout.write(bytes([FRAME_JSON]) + struct.pack(">I", len(body)) + body)
        self.wout.flush()

    def send_data(self, stream, data):
        for at in range(0, len(data), DATA_PIECE):
            piece = data[at : at + DATA_PIECE]
            self.wout.write(bytes([FRAME_DATA]) + struct.pack(">II", len(piece) + 4, stream) + piece)
        self.wout.flush()

    def end_stream(self, stream):
        self.wout.write(bytes([FRAME_DATA]) + struct.pack(">II", 4, stream))
        self.wout.flush()


class Context:
    """What a call gets: the options (validated by Cairn, defaults filled in), the level, the
    state kept at earlier runs, and `log`."""

    def __init__(self, pipe, params):
        self._pipe = pipe
        self.params = params
        self.options = params.get("options") or {}
        self.directive = params.get("directive", "")
        self.level = params.get("level", "full")
        # Backup: the latest earlier run of the same sources, the latest full, and the one this
        # run builds on (previous for an incremental, previousFull for a differential).
        self.previous = params.get("previous")
        self.previous_full = params.get("previousFull")
        self.since = params.get("since")
        # Restore: the target folder, the snapshot, and the state kept at that backup.
        self.target = params.get("target")
        self.snapshot = params.get("snapshot")
        self.state = params.get("state")
        self.new_state = None

    def log(self, message, level="info"):
        """A line in Cairn's log; level "warning" makes the run end with warnings (exit 3)."""
        self._pipe.send_json({"jsonrpc": "2.0", "method": "log", "params": {"level": level, "message": message}})

    def set_state(self, state):
        """Any JSON value, kept in the snapshot and handed back at the next run (previous.state)."""
        self.new_state = state


class Entry:
    """An entry handed back at restore; iterate `data` for a file's bytes (verified by Cairn)."""

    def __init__(self, params, data):
        self.path = params["path"]
        self.type = params["type"]
        self.mode = params.get("mode", 0o600)
        self.size = params.get("size", 0)
        self.mtime_ms = params.get("mtimeMs", 0)
        self.link_target = params.get("linkTarget")
        self.data = data


class Plugin:
    """Override `name`, `options` and the methods. Option specs are dicts:
    {"type": "string"|"integer"|"boolean"|"enum"|"path"|"size", "description": "...",
     "required": bool, "default": value, "values": [...] (enum), "min"/"max", "secret": bool,
     "identity": bool}."""

    name = "example"
    version = "0.0.0"
    description = ""
    options = {}
    levels = None  # e.g. ["full", "incremental"]; None: all three

    def backup(self, ctx):
        """Yield entries: dicts with "path" (absolute pseudo path), "type" ("file", "dir",
        "symlink"), optionally "mode", "mtimeMs", "uid", "gid", "linkTarget", and for a file
        "data": bytes, or an iterable of bytes (read lazily, one entry after another)."""
        return iter(())

    def restore_start(self, ctx):
        pass

    def restore_entry(self, ctx, entry):
        """Take one entry; read entry.data for its bytes. Return "restored", "core" (Cairn
        writes it as a plain file under the target) or "skip"."""
        return "core"

    def restore_end(self, ctx, failed):
        pass


def _error(pipe, id_, message, code=-32000):
    pipe.send_json({"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}})


def _info(plugin):
    info = {
        "name": plugin.name,
        "kind": "command",
        "apiVersion": API_VERSION,
        "version": plugin.version,
        "description": plugin.description,
        "options": plugin.options,
    }
    if plugin.levels is not None:
        info["levels"] = list(plugin.levels)
    return info


def _backup(pipe, plugin, id_, params):
    ctx = Context(pipe, params)
    stream = 0
    for entry in plugin.backup(ctx):
        entry = dict(entry)
        data = entry.pop("data", None)
        if entry.get("type") == "file" and data is not None:
            stream += 1
            entry["stream"] = stream
        pipe.send_json({"jsonrpc": "2.0", "method": "backup.entry", "params": entry})
        if "stream" in entry:
            if isinstance(data, (bytes, bytearray, memoryview)):
                data = [bytes(data)]
            for chunk in data:
                if chunk:
                    pipe.send_data(stream, bytes(chunk))
            pipe.end_stream(stream)
    result = {} if ctx.new_state is None else {"state": ctx.new_state}
    pipe.send_json({"jsonrpc": "2.0", "id": id_, "result": result})


class _Incoming:
    """The data frames of one stream, read as the plugin iterates."""

    def __init__(self, pipe, stream):
        self.pipe = pipe
        self.stream = stream
        self.done = stream is None

    def __iter__(self):
        while not self.done:
            frame = self.pipe.read_frame()
            if frame is None:
                raise ProtocolError("standard input closed inside a stream")
            kind, body = frame
            if kind != "D" or body[0] != self.stream:
                raise ProtocolError("expected data of stream %s" % self.stream)
            if not body[1]:
                self.done = True
                return
            yield body[1]

    def drain(self):
        for _ in self:
            pass


def run(plugin, rin=None, wout=None):
    """Serves Cairn until it says shutdown or closes standard input."""
    rin = rin or sys.stdin.buffer
    wout = wout or sys.stdout.buffer
    # Stray prints must not break the frames on standard output.
    sys.stdout = sys.stderr
    pipe = _Pipe(rin, wout)
    restore_ctx = None
    while True:
        frame = pipe.read_frame()
        if frame is None:
            return
        kind, message = frame
        if kind == "D":
            continue  # the rest of a stream whose entry already failed
        method = message.get("method")
        id_ = message.get("id")
        params = message.get("params") or {}
        try:
            if method == "initialize":
                if API_VERSION not in params.get("apiVersions", []):
                    _error(pipe, id_, "this plugin speaks plugin API version %d" % API_VERSION)
                    continue
                pipe.send_json({"jsonrpc": "2.0", "id": id_, "result": _info(plugin)})
            elif method == "backup":
                _backup(pipe, plugin, id_, params)
            elif method == "restore.start":
                restore_ctx = Context(pipe, params)
                plugin.restore_start(restore_ctx)
                pipe.send_json({"jsonrpc": "2.0", "id": id_, "result": {}})
            elif method == "restore.entry":
                incoming = _Incoming(pipe, params.get("stream"))
                try:
                    status = plugin.restore_entry(restore_ctx, Entry(params, incoming))
                finally:
                    incoming.drain()
                pipe.send_json({"jsonrpc": "2.0", "id": id_, "result": {"status": status or "restored"}})
            elif method == "restore.end":
                plugin.restore_end(restore_ctx, params.get("failed"))
                restore_ctx = None
                pipe.send_json({"jsonrpc": "2.0", "id": id_, "result": {}})
            elif method == "shutdown":
                pipe.send_json({"jsonrpc": "2.0", "id": id_, "result": {}})
                return
            elif id_ is not None:
                _error(pipe, id_, "no method %s" % method, -32601)
        except ProtocolError:
            raise
        except PluginError as err:  # an expected failure: its message says it all
            if id_ is not None:
                _error(pipe, id_, str(err))
        except Exception as err:  # a bug: the traceback goes to the log
            traceback.print_exc(file=sys.stderr)
            if id_ is not None:
                _error(pipe, id_, "%s: %s" % (type(err).__name__, err))
