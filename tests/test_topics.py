"""Topic names: keys, hashtags, suggestions and deep-link payloads."""

from __future__ import annotations

from bot.topics import deep_link_payload, deep_link_topic, hashtag, hashtags, suggest, topic_key


def test_a_topic_is_found_by_its_case_folded_name() -> None:
    assert topic_key("  Machine   Learning ") == "machine learning"
    assert topic_key("ÄI") == topic_key("äi")


def test_hashtags_are_safe_for_telegram() -> None:
    assert hashtag("AI") == "#AI"
    assert hashtag("Machine Learning") == "#Machine_Learning"
    assert hashtag("机器学习") == "#机器学习"
    assert hashtag("C++ / Rust") == "#C_Rust"
    assert hashtag("2024") is None
    assert hashtag("!!!") is None
    assert hashtags(["AI", "ai", "A.I.", "2024"]) == ["#AI", "#ai", "#A_I"]


def test_did_you_mean_picks_the_closest_known_topic() -> None:
    names = ["AI", "Economy", "Health", "Machine Learning"]
    assert suggest("Econmy", names) == "Economy"
    assert suggest("machine", names) == "Machine Learning"
    assert suggest("zzz", names) is None
    assert suggest("", names) is None


def test_deep_link_payloads_fit_telegrams_alphabet() -> None:
    assert deep_link_payload(42) == "t42"
    assert deep_link_topic("t42") == 42
    for bad in ("t", "a42", "t4x", "t٤٢", "t" + "9" * 70, "t-1"):
        assert deep_link_topic(bad) is None
