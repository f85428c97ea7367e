"""docs/protocol.md and host_tools/protocol.py cannot drift: every ```json example of the page passes
the schema, every message type and method of the schema is on the page, and the page's close codes
are the ones the server uses."""

import json
import os
import re

from host_tools import protocol
from host_tools.server.device import CLOSE_CODES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "docs", "protocol.md"), encoding="utf-8") as f:
    DOC = f.read()


def examples():
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC, re.S)]


def test_every_json_example_on_the_page_passes_the_schema():
    found = examples()
    assert len(found) >= 10
    for msg in found:
        protocol.check_message(msg)  # raises ProtocolError naming the field


def test_every_message_type_and_event_kind_has_an_example():
    found = examples()
    types = {m["type"] for m in found}
    assert types == set(protocol.BOARD) | set(protocol.SERVER)
    assert {m["kind"] for m in found if m["type"] == "event"} == set(protocol.EVENTS)
    assert any(m["type"] == "result" and not m["ok"] for m in found)
    assert any("error" in r for m in found if m["type"] == "telemetry" for r in m["readings"])


def test_the_method_table_lists_exactly_the_methods_the_schema_knows():
    table = re.findall(r"^\| `([a-z.]+)` \|", DOC, re.M)
    assert table and set(table) == set(protocol.METHODS)


def test_the_close_code_table_lists_exactly_the_codes_the_server_uses():
    section = DOC.split("## Close codes the server uses", 1)[1].split("\n## ", 1)[0]
    codes = {int(c) for c in re.findall(r"^\| (\d{4}) \|", section, re.M)}
    assert codes == set(CLOSE_CODES)


def test_the_doc_examples_fail_when_a_field_breaks_the_schema():
    # the check above would pass vacuously if the schema accepted anything: break each example once
    for msg in examples():
        broken = dict(msg)
        key = next(k for k in ("device", "readings", "id", "seq", "time", "relay", "sensor") if k in msg)
        broken[key] = {"not": "valid"}
        try:
            protocol.check_message(broken)
        except protocol.ProtocolError as e:
            assert key in str(e)
        else:
            raise AssertionError("broken %s example passed: %s" % (msg["type"], broken))
