"""Parse MIME text from stdin with Python's email module (policy=default); print JSON on stdout.

Output: {"contentType": str, "isMultipart": bool, "boundary": str|null, "defects": [str],
         "parts": [{"contentType": str, "headers": [[name, value]], "body": str, "defects": [str]}]}
"defects" lists every defect found anywhere, as "<DefectClass>: <message>" (message may be empty).
"parts" lists the leaf (non-multipart) parts in walk order; a non-multipart message is one part.
Bodies are decoded (transfer encoding and charset); non-text bodies are decoded as UTF-8 with replacement.
Part of the soci-installer test support; written for these tests.
"""
import email
import email.policy
import json
import sys


def defect_text(d):
    msg = str(d) if str(d) else ""
    return f"{type(d).__name__}: {msg}".rstrip(": ").rstrip()


def body_of(part):
    try:
        content = part.get_content()
    except Exception as e:  # a malformed part: fall back to the raw payload
        content = part.get_payload(decode=True)
        if content is None:
            content = part.get_payload()
        if isinstance(content, list):
            content = ""
        if not isinstance(content, (str, bytes)):
            content = f"<unreadable: {e}>"
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return content


def main():
    text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    msg = email.message_from_string(text, policy=email.policy.default)
    defects = []
    parts = []
    for part in msg.walk():
        part_defects = [defect_text(d) for d in part.defects]
        defects.extend(part_defects)
        if part.is_multipart():
            continue
        parts.append({
            "contentType": part.get_content_type(),
            "headers": [[k, str(v)] for k, v in part.items()],
            "body": body_of(part),
            "defects": part_defects,
        })
    json.dump({
        "contentType": msg.get_content_type(),
        "isMultipart": msg.is_multipart(),
        "boundary": msg.get_boundary(),
        "defects": defects,
        "parts": parts,
    }, sys.stdout)


main()
