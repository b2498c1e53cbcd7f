"""Read user data from stdin the way cloud-init does; print JSON on stdout.

Runs cloud-init's own UserDataProcessor (Debian's cloud-init package) on the text, then walks the processed
message with cloud-init's handlers.walk / walker_callback, with every content type that cloud-init's default
user-data handlers register mapped to a recorder instead of the real handler: nothing is executed, written
or fetched (#include URLs are refused, part-handlers are not imported). Unknown types reach cloud-init's own
"Unhandled unknown content-type" branch, whose log lines are captured.

Output: {"parts": [{"contentType", "filename", "payload", "handled"}], "handledTypes": [str],
         "logs": ["LEVEL logger: message"], "unhandled": [str]}
Part of the soci-installer test support; written for these tests.
"""
import json
import logging
import sys
import tempfile

from cloudinit import handlers, helpers, user_data
from cloudinit.handlers.boot_hook import BootHookPartHandler
from cloudinit.handlers.cloud_config import CloudConfigPartHandler
from cloudinit.handlers.jinja_template import JinjaTemplatePartHandler
from cloudinit.handlers.shell_script import ShellScriptPartHandler
from cloudinit.handlers.shell_script_by_frequency import ShellScriptByFreqPartHandler
from cloudinit.settings import PER_ALWAYS, PER_INSTANCE, PER_ONCE


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def refuse_url(url, *args, **kwargs):
    raise user_data.UrlError(Exception(f"test harness refuses to fetch {url}"), url=url)


def main():
    payload = sys.stdin.buffer.read()
    capture = Capture()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(capture)

    with tempfile.TemporaryDirectory(prefix="ci-parts-") as tmp:
        paths = helpers.Paths({"cloud_dir": f"{tmp}/cloud", "run_dir": f"{tmp}/run"})
        opts = {"paths": paths, "datasource": None}
        cc = CloudConfigPartHandler(**opts)
        ss = ShellScriptPartHandler(**opts)
        default_handlers = [
            cc, ss,
            ShellScriptByFreqPartHandler(PER_ALWAYS, **opts),
            ShellScriptByFreqPartHandler(PER_INSTANCE, **opts),
            ShellScriptByFreqPartHandler(PER_ONCE, **opts),
            BootHookPartHandler(**opts),
            JinjaTemplatePartHandler(**opts, sub_handlers=[cc, ss]),
        ]
        handled_types = sorted({t for h in default_handlers for t in h.list_types()})

        user_data.read_file_or_url = refuse_url
        processed = user_data.UserDataProcessor(paths).process(payload)

        parts = []

        class Recorder:
            handler_version = 3
            frequency = PER_ALWAYS

            def handle_part(self, data, ctype, filename, payload, frequency, headers):
                pass

        recorder = Recorder()
        data = {
            "handlers": {t: recorder for t in handled_types},
            "excluded": [],
            "data": None,
            "frequency": PER_ALWAYS,
            "handlerdir": f"{tmp}/handlers",
            "handlercount": 0,
        }

        def callback(data, filename, payload, headers):
            ctype = headers["Content-Type"]
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else (payload or "")
            parts.append({
                "contentType": ctype,
                "filename": filename,
                "payload": text,
                "handled": ctype in handled_types,
            })
            if ctype in handlers.PART_CONTENT_TYPES:
                logging.getLogger("test-harness").warning("part-handler %s not imported by the test harness", filename)
                return
            handlers.walker_callback(data, filename, payload, headers)

        handlers.walk(processed, callback, data)

    root.removeHandler(capture)
    # "No per instance data available" comes from running without a datasource (the harness), not the data
    logs = [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in capture.records
        if r.levelno >= logging.INFO and "No per instance data available" not in r.getMessage()
    ]
    json.dump({
        "parts": parts,
        "handledTypes": handled_types,
        "logs": logs,
        "unhandled": [l for l in logs if "Unhandled" in l],
    }, sys.stdout)


main()
