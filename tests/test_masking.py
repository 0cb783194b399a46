"""Secrets never leave the machine: masked lines and skipped files."""

from __future__ import annotations

from bot.core.classify import SkipReason, file_skip_reason
from bot.core.diff import parse_diff
from bot.core.masking import MASK, mask_file, mask_line

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


def test_tokens_passwords_and_key_blocks_are_masked() -> None:
    (file,) = parse_diff(KEY_DIFF)
    masked, count = mask_file(file)
    text = "\n".join(ln.text for h in masked.hunks for ln in h.lines)
    assert count == 3
    assert "ghp_" not in text and "S3cr3t" not in text and "MIIEow" not in text
    assert text.count(MASK) == 3 and "BEGIN RSA PRIVATE KEY" in text and "DEBUG = False" in text


def test_ordinary_code_is_left_alone() -> None:
    for line in ['token = get_token()', 'secret_key = ConfigAttribute("SECRET_KEY")',
                 'self._cv_tokens: list[contextvars.Token] = []', 'password = "aaaaaaaaaaaa"']:
        assert mask_line(line) == (line, 0)


def test_secret_files_are_skipped_before_anything_else() -> None:
    (file,) = parse_diff(KEY_DIFF.replace("deploy/config.py", "deploy/.env"))
    assert file_skip_reason(file, ignore=()) is SkipReason.SECRET_FILE
