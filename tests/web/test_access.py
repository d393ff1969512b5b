"""Access: signed links and Telegram Mini App initData, verified by pure functions."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from bot.web.access import (
    INIT_DATA_MAX_AGE,
    Access,
    check_token,
    link_expiry,
    link_key,
    sign_init_data,
    sign_path,
    verify_init_data,
)

TOKEN = "123456789:AAE-access-test-token_0123456789"  # noqa: S105 -- a fake token
NOW = 1_800_000_000
KEY = link_key(TOKEN)


def init_data(user_id: int = 77, auth_date: int = NOW, token: str = TOKEN, **extra: str) -> str:
    """Return initData as Telegram would sign it for `token`."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": user_id, "first_name": "Ann", "language_code": "zh"}),
        "auth_date": str(auth_date),
        **extra,
    }
    return urlencode({**fields, "hash": sign_init_data(token, fields)})


def test_a_signed_link_opens_its_page_until_it_expires() -> None:
    token = sign_path(KEY, "/a/5", NOW + 60)
    assert check_token(KEY, "/a/5", token, NOW) == NOW + 60
    assert check_token(KEY, "/a/5", token, NOW + 60) is None
    assert check_token(KEY, "/a/6", token, NOW) is None


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", f"{NOW + 60}.", f"{NOW + 60}.00", "²²²²²²²²²².ff", "9" * 40 + ".ab"],
)
def test_a_malformed_token_opens_nothing(token: str) -> None:
    assert check_token(KEY, "/a/5", token, NOW) is None


def test_a_tampered_expiry_or_mac_opens_nothing() -> None:
    expiry, _, mac = sign_path(KEY, "/a/5", NOW + 60).partition(".")
    assert check_token(KEY, "/a/5", f"{int(expiry) + 3600}.{mac}", NOW) is None
    flipped = ("0" if mac[0] != "0" else "1") + mac[1:]
    assert check_token(KEY, "/a/5", f"{expiry}.{flipped}", NOW) is None
    assert check_token(link_key(TOKEN + "x"), "/a/5", f"{expiry}.{mac}", NOW) is None


def test_link_expiries_round_up_to_the_hour_so_buttons_stay_the_same() -> None:
    assert link_expiry(NOW, 7 * 86400) % 3600 == 0
    assert link_expiry(NOW, 60) == link_expiry(NOW + 30, 60)
    assert link_expiry(NOW, 60) >= NOW + 60


def test_genuine_fresh_init_data_names_its_user() -> None:
    user = verify_init_data(TOKEN, init_data(), NOW + 10)
    assert user is not None
    assert (user.id, user.language_code) == (77, "zh")


def test_init_data_is_signed_the_way_telegram_documents() -> None:
    # secret_key = HMAC_SHA256(key="WebAppData", msg=token); hash = HMAC_SHA256(secret_key, dcs)
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415

    fields = {"auth_date": "1", "user": '{"id":1}', "query_id": "q"}
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    check = 'auth_date=1\nquery_id=q\nuser={"id":1}'
    expected = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    assert sign_init_data(TOKEN, fields) == expected


@pytest.mark.parametrize(
    "data",
    [
        init_data(token=TOKEN + "x"),  # signed by another bot
        init_data().replace("hash=", "hash=0"),  # a wrong hash
        init_data().replace("Ann", "Bob"),  # a changed field
        init_data(auth_date=NOW - INIT_DATA_MAX_AGE - 1),  # too old
        init_data(auth_date=NOW + 3600),  # from the future
        init_data(user_id=0),
        init_data() + "&user=1",  # a repeated key
        "",
        "hash=",
        "%%%",
        "x" * 10000,
    ],
)
def test_forged_stale_or_malformed_init_data_names_nobody(data: str) -> None:
    assert verify_init_data(TOKEN, data, NOW) is None


def test_a_public_reader_grants_every_page_without_a_token() -> None:
    access = Access(public=True, link_key=None, bot_token=None, ttl=3600)
    grant = access.grant("/a/1", "", NOW)
    assert grant is not None
    assert access.token("/a/2", grant) == ""
    assert access.mini_app_user(init_data(), NOW) is None


def test_a_private_reader_signs_onward_links_with_the_same_expiry() -> None:
    access = Access(public=False, link_key=KEY, bot_token=TOKEN, ttl=3600)
    assert access.grant("/a/1", "", NOW) is None
    grant = access.grant("/a/1", sign_path(KEY, "/a/1", NOW + 99), NOW)
    assert grant is not None
    assert check_token(KEY, "/a/2", access.token("/a/2", grant), NOW) == NOW + 99
