"""Fake credentials of every shape the bot masks, generated at run time from a seeded RNG.

None is a real key and none is written out as a literal: each is built from a vendor's documented prefix
and random characters, so a scanner of this repository never sees a live-looking secret.
"""

from __future__ import annotations

import base64
import random
import string

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _der_key(rng: random.Random, size: int = 1190) -> str:
    """Base64 of random bytes behind the DER header of a PKCS#8 RSA key (30 82 .. .. 02 01 00 30 0d 06)."""
    header = bytes([0x30, 0x82, 0x04, 0xA2, 0x02, 0x01, 0x00, 0x30, 0x0D, 0x06])
    return base64.b64encode(header + rng.randbytes(size)).decode()


def pem_rows(rng: random.Random, width: int = 64) -> list[str]:
    """A private key body wrapped as PEM wraps it."""
    body = _der_key(rng)
    return [body[i:i + width] for i in range(0, len(body), width)]


def tokens(seed: int = 11) -> dict[str, str]:
    """One fake of each token shape, by name."""
    rng = random.Random(seed)
    p = lambda alphabet, n: _pick(rng, alphabet, n)  # noqa: E731
    upper = string.ascii_uppercase + string.digits
    dash = "-----"
    return {
        "aws": "AK" + "IA" + p(upper, 16),
        "aws_sts": "AS" + "IA" + p(upper, 16),
        "azure_storage": "AccountKey=" + p(B64, 86) + "==",
        "azure_client_secret": p(ALNUM, 3) + "8Q~" + p(ALNUM, 31),
        "github_classic": "gh" + "p_" + p(ALNUM, 36),
        "github_oauth": "gh" + "o_" + p(ALNUM, 36),
        "github_app": "gh" + "s_" + p(ALNUM, 36),
        "github_fine_grained": "github" + "_pat_" + p(ALNUM, 22) + "_" + p(ALNUM, 59),
        "gitlab": "gl" + "pat-" + p(ALNUM, 20),
        "slack_bot": "xo" + "xb-" + p(string.digits, 12) + "-" + p(string.digits, 13) + "-" + p(ALNUM, 24),
        "slack_user": "xo" + "xp-" + p(string.digits, 12) + "-" + p(ALNUM, 32),
        "slack_webhook": "https://hooks.slack.com/services/T" + p(upper, 8) + "/B" + p(upper, 8) + "/" + p(ALNUM, 24),
        "stripe_secret": "sk" + "_live_" + p(ALNUM, 24),
        "stripe_restricted": "rk" + "_live_" + p(ALNUM, 24),
        "twilio_sid": "A" + "C" + p(HEX, 32),
        "twilio_key": "S" + "K" + p(HEX, 32),
        "sendgrid": "S" + "G." + p(ALNUM, 22) + "." + p(ALNUM, 43),
        "npm": "np" + "m_" + p(ALNUM, 36),
        "pypi": "py" + "pi-AgE" + "IcHlwaS5vcmc" + p(ALNUM, 70),
        "openai": "s" + "k-proj-" + p(ALNUM, 48),
        "anthropic": "s" + "k-ant-api03-" + p(ALNUM, 90),
        "google_api": "AI" + "za" + p(ALNUM, 35),
        "gcp_oauth_secret": "GOC" + "SPX-" + p(ALNUM, 28),
        "huggingface": "h" + "f_" + p(ALNUM, 34),
        "jwt": "ey" + "J" + p(ALNUM, 30) + ".ey" + "J" + p(ALNUM, 60) + "." + p(ALNUM, 43),
        "postgres_url": "postgres://app:" + p(ALNUM, 16) + "@db.internal:5432/app",
        "https_token_url": "https://deploy:" + p(ALNUM, 40) + "@git.example.com/org/repo.git",
        "one_line_key": dash + "BEGIN PRIVATE KEY" + dash + "\\n" + "\\n".join(pem_rows(rng)) + "\\n"
                        + dash + "END PRIVATE KEY" + dash + "\\n",
        "bare_der_key": _der_key(rng),
        "bearer": "Authorization: Bearer " + p(ALNUM, 40),
        "password_assignment": 'DB_PASSWORD = "' + p(ALNUM, 20) + '"',
    }


def key_headers() -> list[str]:
    """The BEGIN lines of every private key kind."""
    kinds = ["RSA ", "DSA ", "EC ", "OPENSSH ", "ENCRYPTED ", ""]
    dash = "-----"
    return [f"{dash}BEGIN {k}PRIVATE KEY{dash}" for k in kinds] + [f"{dash}BEGIN PGP PRIVATE KEY BLOCK{dash}"]


def _pem_b64(rng: random.Random, kind: str) -> str:
    """A PEM block encoded in base64 once more, as kubeconfig and Kubernetes Secrets hold it."""
    dash = "-----"
    pem = f"{dash}BEGIN {kind}{dash}\n" + "\n".join(pem_rows(rng)[:4]) + f"\n{dash}END {kind}{dash}\n"
    return base64.b64encode(pem.encode()).decode()


def credential_lines(seed: int = 17) -> dict[str, tuple[str, str]]:
    """Lines that hold a credential in its usual context (issue 17's shapes), by name: (line, the secret in it)."""
    rng = random.Random(seed)
    p = lambda alphabet, n: _pick(rng, alphabet, n)  # noqa: E731
    upper = string.ascii_uppercase + string.digits
    key_pem, ec_pem = _pem_b64(rng, "RSA PRIVATE KEY"), _pem_b64(rng, "EC PRIVATE KEY")
    login = base64.b64encode(f"deploy:{p(ALNUM, 20)}".encode()).decode()
    npm_login = base64.b64encode(f"ci:{p(ALNUM, 20)}".encode()).decode()
    aws_secret, telegram = p(B64, 38) + "a1", p(string.digits, 9) + ":AA" + p(ALNUM, 33)
    discord, atlassian = p(ALNUM + "_-", 68), "ATA" + "TT3" + p(ALNUM, 186)
    url_password = p(ALNUM, 8) + "/" + p(ALNUM, 8) + "@" + p(ALNUM, 8)
    symbols = p(string.ascii_letters, 4) + "!#%" + p(ALNUM, 6) + "^&*+" + p(string.digits, 3)
    letters, curl, vault = p(string.ascii_letters, 14), p(ALNUM, 14), "hv" + "s." + p(ALNUM, 91)
    sentry, db_pass = p(HEX, 32), p(ALNUM, 16)
    return {
        "kubeconfig_client_key": (f"    client-key-data: {key_pem}", key_pem),
        "kubernetes_tls_key": (f"  tls.key: {ec_pem}", ec_pem),
        "docker_auth": (f'{{"auths": {{"registry.example.com": {{"auth": "{login}"}}}}}}', login),
        "npm_auth": (f"_auth={npm_login}", npm_login),
        "aws_secret_positional": (f"s3 = boto3.client('s3', 'AK{'IA'}{p(upper, 16)}', '{aws_secret}')", aws_secret),
        "telegram_in_url": (f"URL = f'https://api.telegram.org/bot{telegram}/sendMessage'", telegram),
        "discord_webhook": (f"HOOK = 'https://discord.com/api/webhooks/{p(string.digits, 18)}/{discord}'", discord),
        "atlassian": (f"auth = ('me@example.com', '{atlassian}')", atlassian),
        "pgpassword_letters": (f"PGPASSWORD={letters} psql -h db -U app", letters),
        "postgres_password_symbols": (f"      - POSTGRES_PASSWORD={symbols}", symbols),
        "curl_user": (f"curl -u deploy:{curl} https://example.com/api", curl),
        "vault_bare": (f"vault login {vault}", vault),
        "url_password_slash_at": (f"DATABASE_URL=postgres://app:{url_password}@db.internal:5432/app", url_password),
        "sentry_dsn": (f"SENTRY_DSN=https://{sentry}@o{p(string.digits, 6)}.ingest.sentry.io/1", sentry),
        "db_pass": (f"DB_PASS={db_pass}", db_pass),
    }


def not_credentials() -> dict[str, str]:
    """Lines beside each of issue 17's shapes that hold no credential: placeholders, public data, code."""
    rng = random.Random(19)
    cert = _pem_b64(rng, "CERTIFICATE")
    return {
        "kubeconfig_client_key": f"    client-certificate-data: {cert}",
        "kubernetes_tls_key": f"  tls.crt: {cert}",
        "docker_auth": '{"auths": {"registry.example.com": {"auth": "${DOCKER_AUTH}"}}}',
        "npm_auth": "_auth=${NPM_AUTH}",
        "aws_secret_positional": "aws s3 cp dist s3://bucket/a94a8fe5ccb19ba61c4c0873d391e987982fbbd3/",
        "telegram_in_url": "URL = f'https://api.telegram.org/bot{token}/sendMessage'",
        "discord_webhook": "See https://discord.com/developers/docs/resources/webhook",
        "atlassian": "auth = ('me@example.com', os.environ['ATLASSIAN_TOKEN'])",
        "pgpassword_letters": "PGPASSWORD=$PGPASS psql -h db -U app",
        "postgres_password_symbols": "      - POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-postgres}",
        "curl_user": 'curl -u "$DEPLOY_USER:$DEPLOY_TOKEN" https://example.com/api',
        "vault_bare": "client = hvac.Client(url=VAULT_ADDR, token=os.environ['VAULT_TOKEN'])",
        "url_password_slash_at": "<script src='http://localhost:5173/@vite/client'></script>",
        "sentry_dsn": "SENTRY_DSN=https://examplePublicKey@o0.ingest.sentry.io/0",
        "db_pass": 'DB_PASS = os.environ["DB_PASS"]',
    }
