"""The shapes of credentials: known token formats, credentials in URLs, key material. Pure data and regexes.

Each token shape is anchored on a vendor's documented prefix or structure, so ordinary code never matches it;
the generic shapes (assignments to secret-looking names, base64 runs) also need entropy to count.
"""

from __future__ import annotations

import re

# Token formats with a fixed prefix or structure, from each vendor's documentation.
TOKEN_SHAPES: dict[str, str] = {
    "aws_access_key_id": r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b",
    "azure_storage_key": r"(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/]{40,}={0,2}",
    "azure_sas_signature": r"\bsig=[A-Za-z0-9%+/]{40,}(?:%3[Dd]|=){0,2}",
    "azure_client_secret": r"\b[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}\b",
    "github": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    "github_fine_grained": r"\bgithub_pat_[A-Za-z0-9_]{22,}\b",
    "gitlab": r"\bgl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-[A-Za-z0-9_-]{20,}",
    "gitlab_runner_registration": r"\bGR1348941[A-Za-z0-9_-]{20,}",
    "slack": r"\bxox[abposre]-[A-Za-z0-9-]{10,}",
    "slack_app": r"\bxapp-\d-[A-Za-z0-9-]{20,}",
    "slack_webhook": r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+",
    "stripe": r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
    "stripe_webhook": r"\bwhsec_[A-Za-z0-9]{24,}",
    "twilio": r"\b(?:AC|SK)[0-9a-f]{32}\b",
    "sendgrid": r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    "npm": r"\bnpm_[A-Za-z0-9]{36}\b",
    "pypi": r"\bpypi-AgE[A-Za-z0-9_-]{50,}",
    "openai_anthropic": r"\bsk-(?:proj-|ant-(?:api\d\d-|admin\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    "google_api_key": r"\bAIza[0-9A-Za-z_-]{35}",
    "google_oauth_secret": r"\bGOCSPX-[A-Za-z0-9_-]{28}",
    "google_oauth_token": r"\bya29\.[0-9A-Za-z_-]{20,}",
    "huggingface": r"\bhf_[A-Za-z0-9]{34,}\b",
    "digitalocean": r"\bdo[opr]_v1_[a-f0-9]{64}\b",
    "shopify": r"\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}\b",
    "mailchimp": r"\b[0-9a-f]{32}-us\d{1,2}\b",
    "telegram_bot": r"\b\d{8,10}:AA[0-9A-Za-z_-]{33}\b",
    "square": r"\bsq0(?:csp|atp)-[0-9A-Za-z_-]{22,43}",
    "age_secret_key": r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b",
    "putty_mac": r"Private-MAC: [0-9a-f]{40,}",
    "jwt": r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
    # DER key material in base64 even without its PEM header: PKCS#1 RSA, PKCS#8, SEC1 EC, OpenSSH.
    "der_private_key": r"(?:MII[A-Za-z0-9+/]{2}IBAAK|MII[A-Za-z0-9+/]{2,3}IBADAN|MHcCAQEE|b3BlbnNzaC1rZXktdjE)"
                       r"[A-Za-z0-9+/]{40,}={0,2}",
}
KNOWN_TOKENS = re.compile("|".join(f"(?:{shape})" for shape in TOKEN_SHAPES.values()))
# A literal every token shape contains: a line with none of them is not searched (the alternation above costs
# about 0.2 ms a line; these substring checks a hundredth of that).
TOKEN_MARKERS = ("AKIA", "ASIA", "A3T", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "Key=", "sig=",
                 "gh", "github_pat_", "gl", "GR1348941", "xox", "xapp-", "hooks.slack.com", "_live_", "_test_", "whsec_",
                 "AC", "SK", "SG.", "npm_", "pypi-", "sk-", "AIza", "GOCSPX-", "ya29.", "hf_", "_v1_", "shp", "-us", ":AA",
                 "sq0", "AGE-SECRET-KEY-1", "Private-MAC", "eyJ", "MII", "MHcCAQEE", "b3BlbnNzaC1rZXktdjE", "Q~")
NAME_MARKERS = ("pass", "pwd", "secret", "token", "key", "credential")  # in ASSIGNMENT's names, lower-cased

# A private key block that fits on one line: JSON's escaped newlines (a GCP service account), or `\n` in code.
_BEGIN = r"(?:-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|---- BEGIN [A-Z0-9 ]*PRIVATE KEY ----)"
_END = r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|---- END [A-Z0-9 ]*PRIVATE KEY ----)"
ESCAPED_KEY = re.compile(
    rf"(?P<begin>{_BEGIN})(?P<body>(?:\\r)?\\n(?:\\[nr]|[A-Za-z0-9+/=:, -])+?)(?=-{{4,5}} ?END |[\"'`]|$)"
)
KEY_BEGIN = re.compile(rf"{_BEGIN}|PuTTY-User-Key-File-\d|Private-Lines: \d")
KEY_END = re.compile(rf"{_END}|Private-MAC: ")

# Credentials in a URL: scheme://user:password@host. Placeholders (${VAR}, {{x}}, <x>, ***) are not secrets.
URL_CREDENTIALS = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"'<>]+:)(?P<password>[^\s@/\"'<>]+)(?=@)")
PLACEHOLDER = re.compile(r"^(?:\$\{?\w+\}?|\{\{.*\}\}|\{\w*\}|<[^>]*>|\*+|x+|\.+|%\(\w+\)s|%s|\$\d)$", re.I)

# An assignment to a secret-looking name: name = "value", name: value, NAME=value.
ASSIGNMENT = re.compile(
    r"""(?ix)
    (?P<name>[\w.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key
        |credential|auth[_-]?key)[\w.-]*)
    (?P<sep>["']?\s*(?::=|=>|=|:)\s*)
    (?:(?P<quote>["'])(?P<quoted>[^"'\s]{8,})(?P=quote)|(?P<bare>[A-Za-z0-9+/=_\-.~]{12,})(?=$|[\s,;]))
    """
)
# An HTTP credential written out: Authorization: Bearer <token>, Basic <base64>.
AUTH_HEADER = re.compile(r"(?i)(?P<head>\b(?:bearer|basic|token)\s+)(?P<value>[A-Za-z0-9._~+/-]{20,}={0,2})")

# One row of base64 key material, as PEM (64), OpenSSH (70) and MIME (76) wrap it.
B64_ROW = re.compile(r"^[\"']?(?P<b64>[A-Za-z0-9+/]{16,}={0,2})[\"']?(?:\\n)?[\"']?[,;+]?$")
KEY_ROW_WIDTHS = (64, 70, 76)
