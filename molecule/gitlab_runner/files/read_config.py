"""Print config.toml as tomllib reads it (which refuses duplicate keys and tables), as JSON with its secrets masked,
beside the SHA-256 of each runner's token: the verifier compares the whole document and the tokens, and prints neither.
"""
import hashlib
import json
import re
import sys
import tomllib

SECRET_MARKERS = ("token", "secret", "password", "accesskey", "privatekey", "accountkey")


# A URL's user and password (a proxy's, in a job's HTTP_PROXY=...), wherever it stands in a string.
URL_USERINFO = re.compile(r"://[^/@\s]*@")


def masked(node):
    if isinstance(node, dict):
        return {key: "********" if isinstance(value, str) and any(m in key.lower() for m in SECRET_MARKERS) else masked(value)
                for key, value in node.items()}
    if isinstance(node, list):
        return [masked(item) for item in node]
    if isinstance(node, str):
        return URL_USERINFO.sub("://********@", node)
    return node.isoformat() if hasattr(node, "isoformat") else node


with open(sys.argv[1], "rb") as handle:
    document = tomllib.load(handle)
print(json.dumps({
    "document": masked(document),
    "token_sha256": {r["name"]: hashlib.sha256(r["token"].encode()).hexdigest() for r in document.get("runners", [])},
}))
