"""The shapes of credentials: known token formats, credentials in URLs, key material. Pure data and regexes.

Each token shape is anchored on a vendor's documented prefix or structure, so ordinary code never matches it;
the generic shapes (assignments to secret-looking names, base64 runs) also need entropy to count.

Every pattern runs in time linear in the line: no run sits inside another unbounded run, every run has a cap,
and a run that can end a failed attempt is possessive (`{m,n}+`) or bounded by a literal that cannot occur in it.
Vendor prefixes and lengths added in issue 17 follow gitleaks' rule set (github.com/gitleaks/gitleaks,
config/gitleaks.toml), rewritten here; the checks that decide a match (entropy, decoding) are ours.
"""

from __future__ import annotations

import re

# Token formats with a fixed prefix or structure, from each vendor's documentation.
TOKEN_SHAPES: dict[str, str] = {
    "aws_access_key_id": r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b",
    "azure_storage_key": r"\b(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/]{40,256}={0,2}",
    "azure_sas_signature": r"\bsig=[A-Za-z0-9%+/]{40,512}(?:%3[Dd]|=){0,2}",
    "azure_client_secret": r"\b[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}\b",
    "github": r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b",
    "github_fine_grained": r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
    "gitlab": r"\bgl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-[A-Za-z0-9_-]{20,255}",
    "gitlab_runner_registration": r"\bGR1348941[A-Za-z0-9_-]{20,255}",
    "slack": r"\bxox[abposre]-[A-Za-z0-9-]{10,255}",
    "slack_app": r"\bxapp-\d-[A-Za-z0-9-]{20,255}",
    "slack_webhook": r"\bhttps://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{1,255}",
    "discord_webhook": r"\bhttps://(?:(?:canary|ptb)\.)?discord(?:app)?\.com/api(?:/v\d{1,2})?/webhooks/\d{17,20}/"
                       r"[A-Za-z0-9_-]{60,80}",
    "stripe": r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,255}",
    "stripe_webhook": r"\bwhsec_[A-Za-z0-9]{24,255}",
    "twilio": r"\b(?:AC|SK)[0-9a-f]{32}\b",
    "sendgrid": r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    "npm": r"\bnpm_[A-Za-z0-9]{36}\b",
    "pypi": r"\bpypi-AgE[A-Za-z0-9_-]{50,512}",
    "rubygems": r"\brubygems_[a-f0-9]{48}\b",
    "openai_anthropic": r"\bsk-(?:proj-|ant-(?:api\d\d-|admin\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_-]{20,512}",
    "google_api_key": r"\bAIza[0-9A-Za-z_-]{35}",
    "google_oauth_secret": r"\bGOCSPX-[A-Za-z0-9_-]{28}",
    "google_oauth_token": r"\bya29\.[0-9A-Za-z_-]{20,2048}",
    "huggingface": r"\bhf_[A-Za-z0-9]{34,255}\b",
    "digitalocean": r"\bdo[opr]_v1_[a-f0-9]{64}\b",
    "shopify": r"\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}\b",
    "mailchimp": r"\b[0-9a-f]{32}-us\d{1,2}\b",
    # `\b` fails inside https://api.telegram.org/bot<id>:<token>, so `bot` may stand right before the id.
    "telegram_bot": r"(?:\b|(?<=bot))\d{8,10}:AA[0-9A-Za-z_-]{33}\b",
    "square": r"\bsq0(?:csp|atp)-[0-9A-Za-z_-]{22,43}",
    "age_secret_key": r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b",
    "putty_mac": r"\bPrivate-MAC: [0-9a-f]{40,128}",
    "jwt": r"\b(?<!-)eyJ[A-Za-z0-9_-]{10,1024}+\.eyJ[A-Za-z0-9_-]{10,8192}+\.[A-Za-z0-9_-]{10,2048}",
    "atlassian": r"\bATATT3[A-Za-z0-9_=-]{150,250}",
    "vault": r"\bhv[sbr]\.[A-Za-z0-9_-]{24,256}",  # service (hvs), batch (hvb), recovery (hvr) tokens
    "docker_hub": r"\bdckr_pat_[A-Za-z0-9_-]{27,64}",
    "grafana": r"\b(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,400}={0,2})",
    "databricks": r"\bdapi[a-f0-9]{32}(?:-\d)?\b",
    "postman": r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b",
    "linear": r"\blin_api_[A-Za-z0-9]{40}\b",
    "doppler": r"\bdp\.pt\.[A-Za-z0-9]{43}\b",
    "new_relic": r"\bNRAK-[A-Z0-9]{27}\b",
    "sentry_auth": r"\b(?:sntrys_eyJ[A-Za-z0-9+/=_-]{40,512}|sntryu_[a-f0-9]{64}\b)",
    # DER key material in base64 even without its PEM header: PKCS#1 RSA, PKCS#8, SEC1 EC, OpenSSH.
    "der_private_key": r"(?:\b|(?<=\\n))(?:MII[A-Za-z0-9+/]{2}IBAAK|MII[A-Za-z0-9+/]{2,3}IBADAN|MHcCAQEE|b3BlbnNzaC1rZXktdjE)"
                       r"[A-Za-z0-9+/]{40,8192}={0,2}",
}
# The shapes that start at a word boundary share one `\b`: the engine then tries the alternation only there.
# A match starts at a word's start (or after `bot` or an escaped `\n`) and takes the rest of its word: a mask must not
# give a glued neighbour (`SG.….…AKIA…`) a word boundary that only a second pass would find.
_AT_BOUNDARY = [shape.removeprefix(r"\b") for shape in TOKEN_SHAPES.values() if shape.startswith(r"\b")]
_ANYWHERE = [shape for shape in TOKEN_SHAPES.values() if not shape.startswith(r"\b")]
KNOWN_TOKENS = re.compile(
    r"(?:\b(?:" + "|".join(f"(?:{shape})" for shape in _AT_BOUNDARY) + ")|"
    + "|".join(f"(?:{shape})" for shape in _ANYWHERE) + r")\w{0,4096}+"
)
# A literal every token shape contains: a line with none of them is not searched (the alternation above costs
# about 0.2 ms a line; these substring checks a hundredth of that).
AWS_ID_PREFIXES = ("AKIA", "ASIA", "A3T", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA")
TOKEN_MARKERS = (*AWS_ID_PREFIXES, "Key=", "sig=",
                 "gh", "github_pat_", "gl", "GR1348941", "xox", "xapp-", "hooks.slack.com", "_live_", "_test_", "whsec_",
                 "AC", "SK", "SG.", "npm_", "pypi-", "sk-", "AIza", "GOCSPX-", "ya29.", "hf_", "_v1_", "shp", "-us", ":AA",
                 "sq0", "AGE-SECRET-KEY-1", "Private-MAC", "eyJ", "MII", "MHcCAQEE", "b3BlbnNzaC1rZXktdjE", "Q~",
                 "discord", "rubygems_", "ATATT3", "hvs.", "hvb.", "hvr.", "dckr_pat_", "dapi", "PMAK-", "lin_api_",
                 "dp.pt.", "NRAK-", "sntry")

# A private key block that fits on one line: JSON's escaped newlines (a GCP service account), or `\n` in code.
# The body takes every dash but the one that opens the END line, so it stops where the key ends.
_BEGIN = r"(?:-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|---- BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY ----)"
_END = r"(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|---- END [A-Z0-9 ]{0,40}PRIVATE KEY ----)"
ESCAPED_KEY = re.compile(
    rf"(?P<begin>{_BEGIN})(?P<body>(?:\\r)?\\n(?:\\[nr]|[A-Za-z0-9+/=:, ]|-(?!-{{3,4}} ?END )){{0,16384}}+)"
)
KEY_STOP = re.compile(r"-{4,5} ?END |[\"'`]|$")  # what must follow an escaped key's body
KEY_BEGIN = re.compile(rf"{_BEGIN}|PuTTY-User-Key-File-\d|Private-Lines: \d")
KEY_END = re.compile(rf"{_END}|Private-MAC: ")
# A PEM block base64-encoded once more, as kubeconfig's client-key-data and a Kubernetes Secret's tls.key hold
# it: "LS0tLS1CRUdJTi" is "-----BEGIN" encoded. Only a private key's counts (certificates are public).
ENCODED_PEM = re.compile(r"\bLS0tLS1CRUdJTi[A-Za-z0-9+/]{20,16384}={0,2}")

# Credentials in a URL: scheme://user:password@host. The password ends at the last `@` before the host (see
# bot.core.masking), so it may hold `/` and `@`; `rest` runs to the next space or quote and is cut there.
_SCHEME = r"(?<![A-Za-z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]{0,31}://"
URL_CREDENTIALS = re.compile(rf"(?P<head>{_SCHEME}[^\s:/@\"'<>]{{1,256}}:)(?P<rest>[^\s\"'<>]{{1,512}}+)")
URL_PORT_PATH = re.compile(r"\d{1,5}/")
# A key standing alone as a URL's user: a Sentry DSN, https://<32 hex>@o1.ingest.sentry.io/1.
URL_USER_KEY = re.compile(rf"(?P<head>{_SCHEME})[0-9a-f]{{32}}(?=[:@])")
PLACEHOLDER = re.compile(r"^(?:\$\{?\w+\}?|\{\{.*\}\}|\{\w*\}|<[^>]*>|\*+|x+|\.+|%\(\w+\)s|%s|\$\d)$", re.I)

# An assignment to a secret-looking name: name = "value", name: value, NAME=value. The lookahead finds the word
# in the name's first 80 characters; the name itself is one bounded run that must end where the separator starts.
_PASSWORD_WORDS = r"password|passwd|passphrase|pwd|(?<![a-z])pass(?![a-z])"
PASSWORD_NAME = re.compile(rf"(?i){_PASSWORD_WORDS}")
ASSIGNMENT = re.compile(
    rf"""(?ix)
    (?<![\w.-])(?=[\w.-]{{0,80}}?(?:{_PASSWORD_WORDS}|secret|token|api[_-]?key|access[_-]?key|private[_-]?key
        |credential|auth[_-]?key))
    (?P<name>[\w.-]{{1,100}}+)
    (?P<sep>["']?[ \t]{{0,16}}(?::=|=>|=|:)[ \t]{{0,16}})
    (?:(?P<quote>["'])(?P<quoted>[^"'\s]{{8,4096}}+)(?P=quote)|(?P<bare>[^\s"'`,;]{{8,4096}}+))
    """
)
NAME_MARKERS = ("pass", "pwd", "secret", "token", "key", "credential")  # in ASSIGNMENT's names, lower-cased
BARE_SECRET = re.compile(r"[A-Za-z0-9+/=_\-.~]+")  # what a bare value of any other name may hold
# A value that is code or a reference, not a literal: a call, an index, a dotted name, a constant's name,
# a variable, a URL (its own pattern judges its password).
CODE_VALUE = re.compile(
    r"[A-Za-z_][\w.]*[(\[]|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$|[$%{<]|[^:]*://"
)

# An HTTP credential written out: Authorization: Bearer <token>, Basic <base64>.
AUTH_HEADER = re.compile(r"(?i)(?P<head>\b(?:bearer|basic|token)\s{1,16})(?P<value>[A-Za-z0-9._~+/-]{20,4096}+={0,2})")
# Registry logins: Docker's config.json `"auth": "<base64 of user:password>"`, npm's `_auth=` and `_authToken=`.
REGISTRY_AUTH = re.compile(
    r"""(?P<head>"auth"[ \t]{0,8}:[ \t]{0,8}"|(?<![\w-])_auth(?:Token)?[ \t]{0,8}=[ \t]{0,8}["']?)"""
    r"(?P<value>[A-Za-z0-9+/=._~-]{8,2048}+)"
)
# curl's -u/--user user:password.
CURL_USER = re.compile(r"""(?P<head>(?<!\S)(?:-u[ \t]{0,8}|--user[= \t][ \t]{0,8})["']?[^\s:"']{0,128}:)"""
                       r"""(?P<password>[^\s"']{1,256})""")
# An AWS secret access key: 40 characters of base64, counted only on a line that names AWS or holds a key id.
AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
AWS_KEY_ID = re.compile(TOKEN_SHAPES["aws_access_key_id"])

# One row of base64 key material, as PEM (64), OpenSSH (70) and MIME (76) wrap it.
B64_ROW = re.compile(r"^[\"']?(?P<b64>[A-Za-z0-9+/]{16,4096}={0,2})[\"']?(?:\\n)?[\"']?[,;+]?$")
KEY_ROW_WIDTHS = (64, 70, 76)
