"""Secrets never leave the machine: every credential shape is masked, ordinary code is left alone."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from bot.cli import main
from bot.core.classify import SkipReason, file_skip_reason
from bot.core.diff import parse_diff
from bot.core.masking import MASK, mask_file, mask_line
from tests.conftest import FIXTURES
from tests.doubles.mistral import MistralDouble
from tests.secretcorpus import key_headers, pem_rows, tokens

KEY_DIFF = """diff --git a/deploy/config.py b/deploy/config.py
index 1111111..2222222 100644
--- a/deploy/config.py
+++ b/deploy/config.py
@@ -1,2 +1,9 @@
 import os
+GITHUB_TOKEN = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
+db_password = "S3cr3tP4ssw0rd!XyZ"
+KEY = '''
+-----BEGIN RSA PRIVATE KEY-----
+MIIEowIBAAKCAQEA7n9sWfBq1Qx3kP8
+-----END RSA PRIVATE KEY-----
+'''
 DEBUG = False
"""


def _diff(path: str, lines: list[str], start: int = 1) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return (f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"
            f"@@ -{start},1 +{start},{len(lines) + 1} @@\n context = 1\n{body}")


def _masked_text(diff: str) -> tuple[str, int]:
    total, texts = 0, []
    for file in parse_diff(diff):
        masked, n = mask_file(file)
        total += n
        texts += [ln.text for h in masked.hunks for ln in h.lines]
    return "\n".join(texts), total


def test_tokens_passwords_and_key_blocks_are_masked() -> None:
    (file,) = parse_diff(KEY_DIFF)
    masked, count = mask_file(file)
    text = "\n".join(ln.text for h in masked.hunks for ln in h.lines)
    assert count == 3
    assert "ghp_" not in text and "S3cr3t" not in text and "MIIEow" not in text
    assert text.count(MASK) == 3 and "BEGIN RSA PRIVATE KEY" in text and "DEBUG = False" in text


@pytest.mark.parametrize("name", sorted(tokens()))
def test_every_token_shape_is_masked_in_a_line(name: str) -> None:
    secret = tokens()[name]
    for line in [secret, f'value = "{secret}"', f"export X={secret}", f'{{"key": "{secret}"}}']:
        text, count = mask_line(line)
        assert count >= 1 and MASK in text, (name, line)
        assert not any(len(chunk) >= 12 and chunk in text for chunk in _secret_chunks(secret)), (name, text)


def _secret_chunks(secret: str) -> list[str]:
    """The random parts of a fake, split at its fixed separators (prefixes and hosts may stay)."""
    fixed = {"Authorization:", "Bearer", "DB_PASSWORD", "postgres://app", "db.internal:5432/app", "AccountKey",
             "https://deploy", "git.example.com/org/repo.git", "BEGIN", "END", "PRIVATE", "KEY"}
    parts = [p for chunk in secret.replace("\\n", " ").split() for p in chunk.replace("@", " ").split()]
    return [p.strip('"=-') for p in parts if p.strip('"=-') not in fixed]


@pytest.mark.parametrize("header", key_headers())
def test_every_private_key_kind_is_masked_with_its_begin_line(header: str) -> None:
    rows = pem_rows(random.Random(3))
    text, count = _masked_text(_diff("keys/id", [header, *rows, header.replace("BEGIN", "END")]))
    assert count == len(rows) and not any(r in text for r in rows) and header in text


def test_a_hunk_that_starts_inside_a_key_is_masked_without_its_begin_line() -> None:
    rows = pem_rows(random.Random(5))
    text, count = _masked_text(_diff("keys/tail.pem", [*rows[7:], "-----END PRIVATE KEY-----"], start=9))
    assert count == len(rows) - 7 and not any(r in text for r in rows[7:])


def test_a_bare_key_body_with_no_markers_in_the_hunk_is_masked() -> None:
    rows = pem_rows(random.Random(7), width=70)
    text, count = _masked_text(_diff("ssh/key_fragment", rows[2:10], start=4))
    assert count == 8 and not any(r in text for r in rows[2:10])


def test_placeholders_in_urls_are_not_secrets() -> None:
    for line in ["url = 'postgres://${DB_USER}:${DB_PASSWORD}@db/app'", "DSN=redis://user:<password>@host:6379",
                 "conn = f'postgresql://{user}:{password}@{host}'", "http://user:***@example.com"]:
        assert mask_line(line) == (line, 0)


def test_ordinary_code_is_left_alone() -> None:
    for line in ['token = get_token()', 'secret_key = ConfigAttribute("SECRET_KEY")',
                 'self._cv_tokens: list[contextvars.Token] = []', 'password = "aaaaaaaaaaaa"',
                 'headers["Authorization"] = f"Bearer {self.token}"', "sha = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3'",
                 "See https://docs.github.com/en/rest/pulls/reviews#create-a-review-for-a-pull-request"]:
        assert mask_line(line) == (line, 0)


@pytest.mark.parametrize("path", sorted((FIXTURES / "diffs").glob("*.diff")), ids=lambda p: p.name)
def test_no_fixture_diff_has_anything_masked(path: Path) -> None:
    diff = path.read_text(encoding="utf-8", errors="replace")
    assert _masked_text(diff)[1] == 0


def test_secret_files_are_skipped_before_anything_else() -> None:
    (file,) = parse_diff(KEY_DIFF.replace("deploy/config.py", "deploy/.env"))
    assert file_skip_reason(file, ignore=()) is SkipReason.SECRET_FILE


def test_no_secret_of_the_corpus_reaches_the_model(mistral: MistralDouble, tmp_path: Path) -> None:
    corpus = tokens(seed=29)
    lines = [f'{name.upper()} = "{value}"' if '"' not in value else value for name, value in corpus.items()]
    rows = pem_rows(random.Random(31))
    diff = _diff("deploy/settings.py", lines) + _diff("deploy/cert_tail.txt", [*rows[4:], "-----END RSA PRIVATE KEY-----"])
    path = tmp_path / "secrets.diff"
    path.write_text(diff)
    env = {"MISTRAL_API_KEY": "test-key", "MISTRAL_SERVER_URL": mistral.url, "MISTRAL_REVIEW_RETRY_MAX_WAIT_S": "0.01"}
    out, err = io.StringIO(), io.StringIO()
    code = main(["review", "--diff-file", str(path), "--format", "json"], env=env, out=out, err=err)
    assert code == 0, err.getvalue()
    sent = json.dumps(mistral.bodies())
    assert mistral.bodies() and "[MASKED]" in sent
    leaked = [name for name, value in corpus.items() if any(c in sent for c in _secret_chunks(value) if len(c) >= 12)]
    assert leaked == [] and not any(r in sent for r in rows[4:])
