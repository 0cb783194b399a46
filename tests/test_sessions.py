"""Dashboard sessions (itsdangerous): good for exactly SESSION_S, for the token that signed them, whatever the cookie."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.server.sessions import SESSION_S, new_session, valid_session

MADE = 1_800_000_000.5


def test_a_session_lasts_its_hours_and_not_a_second_more() -> None:
    cookie = new_session("token", now=MADE)
    assert valid_session(cookie, "token", now=MADE) and valid_session(cookie, "token", now=MADE + SESSION_S - 1)
    assert not valid_session(cookie, "token", now=MADE + SESSION_S)


def test_a_session_from_a_machine_whose_clock_runs_ahead_is_still_good() -> None:
    assert valid_session(new_session("token", now=MADE + 5), "token", now=MADE)


def test_another_token_or_a_changed_character_is_refused() -> None:
    cookie = new_session("token", now=MADE)
    assert not valid_session(cookie, "other token", now=MADE)
    for at in range(len(cookie)):
        for other in "A0_-":
            if cookie[at] != other:
                assert not valid_session(cookie[:at] + other + cookie[at + 1:], "token", now=MADE), at


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=300) | st.integers(0, 2**64 - 1).map(lambda t: new_session("token", now=t)),
       st.floats(0, 1e12))
def test_any_cookie_is_a_yes_or_a_no_never_an_error(cookie: str, now: float) -> None:
    assert valid_session(cookie, "token", now=now) in (True, False)
