"""Tests for bot.articles: parsing article files into Article values."""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.articles import (
    MAX_ARTICLE_BYTES,
    MAX_SLUG_LENGTH,
    find_article_files,
    name_problem,
    parse_article,
    read_article,
    shown_path,
    slug_for,
)
from bot.errors import ArticleError
from bot.model import Article, Point

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
REFERENCE = SEEDS / "000_d1b123459f6495d4.txt"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "articles"
ERRORS = FIXTURES / "errors"

# What no field may contain: C0 controls except \t and \n, DEL, C1 controls and the BOM.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]")


def fixture(name: str) -> Article:
    return read_article(FIXTURES / name, FIXTURES)


def text_fields(article: Article) -> list[str]:
    """Every string an Article holds, labels and tags included."""
    values = [
        article.slug,
        article.title,
        article.author,
        article.source,
        article.url,
        article.one_line,
        article.body,
        *article.tags,
    ]
    for point in (*article.points, *article.risks):
        values += [point.label, point.text]
    return values


def assert_clean(article: Article) -> None:
    for value in text_fields(article):
        assert FORBIDDEN.search(value) is None, repr(value)
    for value in [article.title, article.author, article.source, article.url, *article.tags]:
        assert "\n" not in value, repr(value)


# -- the reference article -------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> Article:
    return read_article(REFERENCE, SEEDS)


def test_reference_article_front_matter(reference: Article) -> None:
    assert reference.slug == "000_d1b123459f6495d4"
    assert reference.title == "聊聊如何缓解越来越严重的AI焦虑。"
    assert reference.date == datetime.date(2025, 5, 30)
    assert reference.author == "数字生命卡兹克"
    assert reference.source == "微信公众号"
    assert reference.url.startswith("https://mp.weixin.qq.com/s?__biz=MzIyMzA5NjEyMA==&mid=")
    assert reference.url.endswith("bdad95fa5b8c9f")


def test_reference_article_summary(reference: Article) -> None:
    assert reference.one_line.startswith("AI自媒体博主卡兹克")
    assert reference.one_line.endswith("应对策略与建议。")
    assert len(reference.points) == 9
    assert all(point.label and point.text for point in reference.points)
    assert reference.points[0] == Point(
        label="焦虑现状",
        text="作者近期陷入严重的AI焦虑，表现为失眠、身心俱疲，甚至对Midjourney V7、"
        "Gemini 2.5 Pro、Claude 4等新模型的测试失去热情。",
    )
    assert reference.points[1].label == "焦虑根源（攀比心理）"
    assert reference.points[-1].label == "自我定位"
    assert [risk.label for risk in reference.risks] == [
        "舆论加剧焦虑",
        "盲目学习的负面效应",
        "全能竞争风险",
    ]


def test_reference_article_body_keeps_paragraphs(reference: Article) -> None:
    assert reference.body.startswith("见字如面。\n\n现在是2025年5月30日凌晨5点06")
    assert reference.body.endswith("共勉。\n\nwzglyay@virxact.com")
    assert "\n\n\n" not in reference.body
    assert reference.body.count("\n\n") > 50
    assert "## 关联主题" not in reference.body
    assert "[[" not in reference.body


def test_reference_article_tags_are_last_topic_segments(reference: Article) -> None:
    assert reference.tags == ("数字生命卡兹克", "AI", "llm")


def test_reference_article_is_clean(reference: Article) -> None:
    assert_clean(reference)


def test_bom_and_crlf_leave_no_trace_in_any_field(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + REFERENCE.read_bytes().replace(b"\n", b"\r\n")
    path = tmp_path / "crlf.md"
    path.write_bytes(data)
    article = read_article(path, tmp_path)
    assert_clean(article)
    expected = read_article(REFERENCE, SEEDS)
    assert article.title == expected.title
    assert article.points == expected.points
    assert article.risks == expected.risks
    assert article.body == expected.body
    assert article.tags == expected.tags


def test_old_mac_cr_line_endings_are_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "cr.md"
    path.write_bytes(REFERENCE.read_bytes().replace(b"\n", b"\r"))
    article = read_article(path, tmp_path)
    assert_clean(article)
    assert article.title == "聊聊如何缓解越来越严重的AI焦虑。"
    assert len(article.points) == 9
    assert article.body == read_article(REFERENCE, SEEDS).body


# -- variants --------------------------------------------------------------------------------


def test_english_keys_and_headings() -> None:
    article = fixture("english.md")
    assert article.slug == "english"
    assert article.title == "An English article"
    assert article.date == datetime.date(2025, 6, 8)
    assert article.author == "Jane Doe"
    assert article.source == "Example Blog"
    assert article.url == "https://example.com/post?a=1&b=2"
    assert article.one_line == "A short article about <things> & stuff, spread over two lines."
    assert article.points == (
        Point("First", "the first point."),
        Point("Second", "the colon sits inside the bold."),
        Point("", "A point without a label."),
    )
    assert article.risks == (Point("Risk one", "something could go wrong."),)
    assert article.tags == ("Python", "Testing")


def test_unknown_section_is_ignored_and_body_paragraphs_are_normalised() -> None:
    article = fixture("english.md")
    assert article.body == "First paragraph.\nStill the first paragraph.\n\nSecond paragraph."
    assert "ignored" not in article.body


def test_link_key_plus_markers_bold_subheadings_and_missing_sections() -> None:
    article = fixture("link.md")
    assert article.url == "https://example.com/linked"
    assert article.author == "42"  # a YAML number becomes its text
    assert article.date == datetime.date(2025, 6, 8)
    assert article.one_line == "Written with a link key and plus markers."
    assert article.points == (
        Point("Plus", "a plus marker."),
        Point("Another plus", "a second one."),
    )
    assert article.risks == ()
    assert article.body == ""
    assert article.source == ""
    assert article.tags == ()


@pytest.mark.parametrize(
    "name",
    [
        "date_iso_string.md",
        "date_slash.md",
        "date_chinese.md",
        "date_dots.md",
        "date_datetime.md",
        "date_datetime_string.md",
        "date_chinese_key.md",
    ],
)
def test_every_date_format_reads_as_the_same_day(name: str) -> None:
    assert fixture(name).date == datetime.date(2025, 6, 8)


def test_missing_date_is_none() -> None:
    assert fixture("tags.md").date is None


def test_chinese_keys() -> None:
    article = fixture("date_chinese_key.md")
    assert (article.title, article.author, article.source, article.url) == (
        "中文日期",
        "某人",
        "某处",
        "https://example.com/zh",
    )


def test_front_matter_tags_merge_with_topics_deduplicated_in_order() -> None:
    # [[00-元语/ai]] repeats the tag AI (case-insensitively), [[写作]] repeats 写作;
    # an alias or a heading anchor does not change the topic's name.
    assert fixture("tags.md").tags == ("AI", "写作", "2025", "大模型", "Agent")


def test_tags_as_a_comma_separated_string() -> None:
    assert fixture("tags_string.md").tags == ("AI", "llm", "写作")


def test_numbered_markers_continuation_lines_and_sections_in_any_order() -> None:
    article = fixture("numbered.md")
    assert article.one_line == "一句话总结也可以 写成两行。"
    assert article.points == (
        Point("编号要点", "半角冒号， 下一行缩进续写。"),
        Point("括号编号", "冒号在加粗里面， 懒惰续行也算同一条。"),
        Point("", "没有标签的编号要点。 缩进的续段也属于上一条。"),
    )
    assert article.risks == ()
    assert article.body == "正文可以在摘要之前。"


def test_plain_subheadings_and_points_without_markers() -> None:
    article = fixture("plain_points.md")
    assert article.one_line == "这一行是一句话总结。"
    assert article.points == (
        Point("", "焦虑现状：这一行是第一条，没有加粗，所以没有标签。"),
        Point("", "第二条要点。"),
    )
    assert article.risks == (Point("唯一风险", "只有一条。"),)


def test_body_keeps_its_own_headings_and_fenced_code() -> None:
    article = fixture("body_headings.md")
    assert article.body == (
        "Intro paragraph.\n\n## Part one\n\nText of part one.\n\n### A smaller heading\n\n"
        "```markdown\n## Related\n- [[not/a-topic]]\n```\n\nClosing line."
    )
    assert article.tags == ("topic",)


def test_every_valid_fixture_parses_clean() -> None:
    paths = [path for path in find_article_files(FIXTURES).files if ERRORS not in path.parents]
    assert len(paths) >= 14
    for path in paths:
        assert_clean(read_article(path, FIXTURES))


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("- **标签**：全角冒号", Point("标签", "全角冒号")),
        ("- **label**: half-width colon", Point("label", "half-width colon")),
        ("- **标签：** 冒号在加粗里", Point("标签", "冒号在加粗里")),
        ("- **label:**no space", Point("label", "no space")),
        ("- **bold** but no colon", Point("", "**bold** but no colon")),
        ("- plain: colon without bold", Point("", "plain: colon without bold")),
        ("  * indented star", Point("", "indented star")),
        ("1) **编号**：括号", Point("编号", "括号")),
        ("1、**顿号**：编号", Point("顿号", "编号")),
        ("• **bullet**: dot", Point("bullet", "dot")),
    ],
)
def test_point_markers_and_labels(text: str, point: Point) -> None:
    article = parse_article(
        f"---\ntitle: t\n---\n## 摘要\n**一句话总结**\n一句。\n**核心要点**\n{text}\n",
        name="x.md",
        slug="x",
    )
    assert article.points == (point,)


@pytest.mark.parametrize(
    "heading",
    ["**3) 风险/隐患**", "**风险**", "**风险与隐患：**", "### 3. Risks", "Risks:", "**RISKS**"],
)
def test_risk_subheading_spellings(heading: str) -> None:
    article = parse_article(
        f"---\ntitle: t\n---\n## Summary\n**1) One-line summary**\nOne.\n{heading}\n- **r**: x\n",
        name="x.md",
        slug="x",
    )
    assert article.risks == (Point("r", "x"),)


def test_one_line_summary_on_the_subheading_line() -> None:
    article = parse_article(
        "---\ntitle: t\n---\n## 摘要\n**一句话总结**：就在同一行。\n", name="x.md", slug="x"
    )
    assert article.one_line == "就在同一行。"


def test_hostile_markup_is_kept_as_written_not_escaped() -> None:
    article = parse_article(
        '---\ntitle: "<b>&amp; 😀"\n---\n## Summary\n**One-line summary**\n<i>x</i> & y\n'
        "**Key points**\n- **<a>**: <script>\n## Body\n&lt;p&gt;\n",
        name="x.md",
        slug="x",
    )
    assert article.title == "<b>&amp; 😀"
    assert article.one_line == "<i>x</i> & y"
    assert article.points == (Point("<a>", "<script>"),)
    assert article.body == "&lt;p&gt;"


def test_control_characters_and_inner_boms_are_removed_from_every_field() -> None:
    article = parse_article(
        '---\ntitle: "a\\x01b\\u0007\\uFEFFc\\rd"\nauthor: "x\\ty"\n---\n'
        "## Summary\n**One-line summary**\none\x00\x1b line\ufeff\n"
        "**Key points**\n- **l\x02**: t\x7f\x85\n## Body\npara\x0b\x0c one\t tab\n",
        name="x.md",
        slug="x",
    )
    assert article.title == "abc d"
    assert article.author == "x y"
    assert article.one_line == "one line"
    assert article.points == (Point("l", "t"),)
    assert article.body == "para one\t tab"
    assert_clean(article)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("no_front_matter.md", "no front matter"),
        ("unclosed_front_matter.md", "not closed"),
        ("broken_yaml.md", "broken YAML"),
        ("not_mapping.md", "not a 'key: value' mapping"),
        ("missing_title.md", "missing title"),
        ("empty_title.md", "missing title"),
        ("missing_summary.md", "no summary section"),
        ("missing_one_line.md", "no one-line summary"),
        ("bad_date.md", "'date' is not a date"),
        ("impossible_date.md", "'date' is not a date"),
        ("list_title.md", "'title' must be a single value, not a list"),
        ("dict_author.md", "'author' must be a single value, not a mapping"),
    ],
)
def test_bad_article_raises_one_line_error_starting_with_its_path(name: str, reason: str) -> None:
    path = ERRORS / name
    with pytest.raises(ArticleError) as caught:
        read_article(path, FIXTURES)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert reason in message
    assert "\n" not in message


def test_impossible_yaml_date_is_an_article_error() -> None:
    # PyYAML raises a plain ValueError for 2025-02-30 while constructing the date.
    with pytest.raises(ArticleError, match=r"^a\.md: broken YAML front matter: .*day"):
        parse_article("---\ntitle: t\ndate: 2025-02-30\n---\n", name="a.md", slug="a")


def test_yaml_error_names_the_file_line() -> None:
    with pytest.raises(ArticleError, match=r"^a\.md: broken YAML front matter: .*\(line 3\)$"):
        parse_article("---\ntitle: t\nfoo: bar: baz\n---\n", name="a.md", slug="a")
    with pytest.raises(ArticleError, match=r"\(line 5\)$"):
        parse_article("\n\n---\ntitle: t\nfoo: bar: baz\n---\n", name="a.md", slug="a")


def test_undecodable_bytes_raise_article_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("---\ntitle: café\n---\n".encode("latin-1"))
    with pytest.raises(ArticleError, match=r"not UTF-8") as caught:
        read_article(path, tmp_path)
    assert str(caught.value).startswith(f"{path}: ")


def test_unreadable_file_raises_article_error(tmp_path: Path) -> None:
    path = tmp_path / "gone.md"
    with pytest.raises(ArticleError, match="cannot read") as caught:
        read_article(path, tmp_path)
    assert str(caught.value).startswith(f"{path}: ")


# -- hostile text ----------------------------------------------------------------------------

HOSTILE = st.lists(
    st.one_of(
        st.sampled_from(
            [
                *("<b>", "</b>", "&amp;", "&", "<", ">", '"', "'", "😀", "\r", "\r\n", "\n"),
                *("\t", "\ufeff", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\u2028", "**"),
                *("：", ":", "- ", "## ", "[[a/b]]", "---", "```", "#"),
            ]
        ),
        st.characters(),
    ),
    max_size=30,
).map("".join)


def parse_or_error(text: str, *, name: str) -> Article | ArticleError:
    """Parse text; any other exception than ArticleError fails the test."""
    try:
        return parse_article(text, name=name, slug="hostile")
    except ArticleError as exc:
        return exc


def hostile_article(title: str, point: str, body: str) -> str:
    return (
        f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\n---\n\n## 摘要\n\n"
        f"**1) 一句话总结**\n一句。\n\n**2) 核心要点**\n*   **标签**：{point}\n\n"
        f"## 正文\n\n{body}\n"
    )


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=HOSTILE, point=HOSTILE, body=HOSTILE)
def test_hostile_text_never_crashes_and_never_leaves_controls(
    title: str, point: str, body: str
) -> None:
    outcome = parse_or_error(hostile_article(title, point, body), name="hostile.md")
    if isinstance(outcome, ArticleError):
        assert str(outcome).startswith("hostile.md: ")
        assert "\n" not in str(outcome)
    else:
        assert_clean(outcome)


@settings(deadline=None)
@given(title=HOSTILE)
def test_hostile_quoted_title_keeps_its_markup(title: str) -> None:
    article = parse_article(hostile_article("<b>&amp;" + title, "x", ""), name="h.md", slug="h")
    assert article.title.startswith("<b>&amp;")
    assert_clean(article)


@settings(deadline=None)
@given(text=HOSTILE)
def test_arbitrary_text_raises_only_article_error(text: str) -> None:
    for candidate in (text, "---\n" + text, "---\n" + text + "\n---\n" + text):
        outcome = parse_or_error(candidate, name="h.md")
        if isinstance(outcome, ArticleError):
            assert str(outcome).startswith("h.md: ")
        else:
            assert_clean(outcome)


# -- files and slugs -------------------------------------------------------------------------


def test_find_article_files_is_recursive_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for relative in [
        "b.md",
        "a.txt",
        "sub/c.md",
        "sub/deeper/d.MD",
        ".hidden.md",
        ".git/x.md",
        "sub/.obsidian/y.md",
        "notes.pdf",
        "README",
    ]:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
    found = find_article_files(tmp_path).files
    assert [path.relative_to(tmp_path).as_posix() for path in found] == [
        "a.txt",
        "b.md",
        "sub/c.md",
        "sub/deeper/d.MD",
    ]


def test_find_article_files_of_a_missing_folder_finds_nothing_and_says_so(tmp_path: Path) -> None:
    """A folder gone between the caller's check and the walk is refused, not read as empty."""
    listing = find_article_files(tmp_path / "missing")
    assert listing.files == ()
    assert listing.refused == (
        (tmp_path / "missing", "cannot list this folder (No such file or directory)"),
    )


def test_slug_is_the_relative_path_without_extension() -> None:
    root = Path("/seeds")
    assert slug_for(root / "000_abc.txt", root) == "000_abc"
    assert slug_for(root / "2025" / "06" / "post.v2.md", root) == "2025--06--post.v2"


def test_slug_uses_nfc_so_decomposed_file_names_keep_their_identity() -> None:
    root = Path("/seeds")
    assert slug_for(root / "cafe\u0301.md", root) == "caf\u00e9"


def test_slug_outside_root_is_an_article_error() -> None:
    with pytest.raises(ArticleError, match=r"^/elsewhere/a\.md: not under /seeds$"):
        slug_for(Path("/elsewhere/a.md"), Path("/seeds"))


def test_slug_is_stable_when_the_contents_change(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "post.md"
    path.parent.mkdir()
    path.write_bytes(REFERENCE.read_bytes())
    before = read_article(path, tmp_path)
    path.write_bytes(REFERENCE.read_bytes().replace("聊聊".encode(), "再聊".encode()))
    after = read_article(path, tmp_path)
    assert before.slug == after.slug == "sub--post"
    assert before.title != after.title


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (os.fsdecode(b"/seeds/\xff\xfe.md"), "/seeds/\\xff\\xfe.md"),
        ("/seeds/a\nb.md", "/seeds/a\\nb.md"),
        ("/seeds/\x1b[2J.md", "/seeds/\\x1b[2J.md"),
        ("/seeds/\u202etxt.md", "/seeds/\\u202etxt.md"),
        ("/seeds/\ud800.md", "/seeds/\\ud800.md"),  # a lone surrogate that no file name makes
        ("/seeds/文章 1.md", "/seeds/文章 1.md"),
    ],
)
def test_shown_path_is_one_printable_line(path: str, shown: str) -> None:
    assert shown_path(Path(path)) == shown


@settings(deadline=None)
@given(name=st.text())
def test_shown_path_never_raises_and_never_breaks_the_line(name: str) -> None:
    text = shown_path(name)
    assert "\n" not in text
    assert "\r" not in text
    text.encode("utf-8")


def test_name_problem_refuses_undecodable_and_control_names_only() -> None:
    assert name_problem(os.fsdecode(b"\xff.md")) == "the name is not valid UTF-8; rename the file"
    assert name_problem("a\x07.md") == "the name holds a control character; rename the file"
    assert name_problem("文章 (1).md") is None


def test_a_huge_hexadecimal_number_in_the_front_matter_is_an_article_error() -> None:
    digits = "0x" + "f" * 5000
    body = "## Summary\n**One-line summary**\nx\n"
    for header in (f"title: {digits}", f"? {digits}\n: x\ntitle: t", f"title: t\ndate: {digits}"):
        with pytest.raises(ArticleError, match=r"^h\.md: front matter holds a number too long"):
            parse_article(f"---\n{header}\n---\n{body}", name="h.md", slug="h")


def test_read_article_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.md"
    os.mkfifo(pipe)
    with pytest.raises(ArticleError, match=r"pipe\.md: not a regular file$"):
        read_article(pipe, tmp_path)


def test_read_article_refuses_a_folder_and_a_file_over_the_limit(tmp_path: Path) -> None:
    (tmp_path / "dir.md").mkdir()
    with pytest.raises(ArticleError, match=r"dir\.md: not a regular file$"):
        read_article(tmp_path / "dir.md", tmp_path)
    big = tmp_path / "big.md"
    big.write_bytes(b"x" * (MAX_ARTICLE_BYTES + 1))
    with pytest.raises(ArticleError, match=rf"big\.md: too large \({MAX_ARTICLE_BYTES + 1} bytes"):
        read_article(big, tmp_path)


def test_find_article_files_reports_what_it_refuses(tmp_path: Path) -> None:
    (tmp_path / "ok.md").write_text("x", encoding="utf-8")
    (tmp_path / "loop.md").symlink_to("loop.md")
    (tmp_path / "out.md").symlink_to("/etc/hostname")
    (tmp_path / "notes.pdf").symlink_to("/etc/passwd")  # not an article: not our business
    os.mkfifo(tmp_path / "pipe.txt")
    listing = find_article_files(tmp_path)
    assert listing.files == (tmp_path / "ok.md",)
    assert [path.name for path, _ in listing.refused] == ["loop.md", "out.md", "pipe.txt"]


def test_a_slug_longer_than_the_column_is_an_article_error() -> None:
    root = Path("/seeds")
    assert slug_for(root / ("a" * MAX_SLUG_LENGTH + ".md"), root) == "a" * MAX_SLUG_LENGTH
    with pytest.raises(ArticleError, match=r"is too long \(401 characters; at most 400\)$"):
        slug_for(root / ("a" * (MAX_SLUG_LENGTH + 1) + ".md"), root)
