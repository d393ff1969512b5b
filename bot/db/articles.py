"""Queries on `articles`: the sync's writes and every read of articles; the table's one writer.

Several processes may sync the same files at once (two instances starting, an import beside
the bot), so inserts tolerate a row another writer added first, and every write goes in slug
or id order: PostgreSQL then takes row locks in the same order in every writer (no deadlock).
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Collection, Iterable, Sequence
from dataclasses import fields, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Float,
    Integer,
    Row,
    RowMapping,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    select,
    table,
    update,
)

from bot.db.engine import insert_on_conflict
from bot.db.tables import ARTICLE_TOPICS, ARTICLES
from bot.model import Article, ArticleUpsert, FileStamp, Point, StoredArticle

_ARTICLE_FIELDS = tuple(f.name for f in fields(Article))
_COLUMNS = (ARTICLES.c.id, ARTICLES.c.hidden, *(ARTICLES.c[name] for name in _ARTICLE_FIELDS))

# Newest first: dated articles by date, undated last, ties broken by newest import.
# Written so an index serves it (SQLite: ix_articles_visible_date read backwards, where NULL
# sorts lowest; PostgreSQL: ix_articles_newest, migration 0002): no sort of whole rows.
NEWEST_FIRST = (ARTICLES.c.date.desc().nulls_last(), ARTICLES.c.id.desc())
# The backlog's push order: oldest dated article first, undated ones after them.
OLDEST_FIRST = (ARTICLES.c.date.is_(None), ARTICLES.c.date.asc(), ARTICLES.c.id.asc())

_VISIBLE = ARTICLES.c.hidden.is_(False)
# Slugs per `IN (...)` read: far below SQLite's 32 766 bound parameters.
_IN_CHUNK = 1000


def _in_topic(query: Select[Any], topic_id: int | None) -> Select[Any]:
    """Narrow an article query to one topic's articles (all of them for None)."""
    if topic_id is None:
        return query
    tagged = select(ARTICLE_TOPICS.c.article_id).where(ARTICLE_TOPICS.c.topic_id == topic_id)
    return query.where(ARTICLES.c.id.in_(tagged))


def search_text(article: Article) -> str:
    """Build the lower-cased text /search matches words against."""
    parts = [article.title, article.one_line, article.body, *article.tags]
    for point in (*article.points, *article.risks):
        parts.extend((point.label, point.text))
    return "\n".join(parts).casefold()


def _points(points: Sequence[Point]) -> list[list[str]]:
    return [[p.label, p.text] for p in points]


def _content(item: ArticleUpsert) -> dict[str, Any]:
    """Return the column values of a parsed file (everything but ids and import times)."""
    a = item.article
    values: dict[str, Any] = {name: getattr(a, name) for name in _ARTICLE_FIELDS}
    values.update(
        points=_points(a.points),
        risks=_points(a.risks),
        tags=list(a.tags),
        search_text=search_text(a),
        content_hash=item.content_hash,
        source_path=item.source_path,
        file_mtime_ns=item.mtime_ns,
        file_size=item.size,
        hidden=False,
    )
    return values


def _stored(row: RowMapping) -> StoredArticle:
    values = {name: row[name] for name in _ARTICLE_FIELDS}
    values.update(
        points=tuple(Point(label, text) for label, text in row["points"]),
        risks=tuple(Point(label, text) for label, text in row["risks"]),
        tags=tuple(row["tags"]),
    )
    return StoredArticle(id=row["id"], article=Article(**values), hidden=row["hidden"])


def _all(c: Connection, query: Select[Any]) -> list[StoredArticle]:
    return [_stored(row) for row in c.execute(query).mappings()]


def _first(c: Connection, query: Select[Any]) -> StoredArticle | None:
    row = c.execute(query).mappings().first()
    return None if row is None else _stored(row)


# -- writes (sync) ----------------------------------------------------------------------


def insert_new(
    c: Connection, items: Sequence[ArticleUpsert], now: datetime
) -> list[ArticleUpsert]:
    """Insert new article files, imported at `now`; return those whose slug was taken.

    A slug another writer inserted since the caller read the stamps is skipped (ON CONFLICT
    DO NOTHING; PostgreSQL waits for that writer's commit first) and handed back, for
    `settle_taken` to compare with what that writer stored.
    """
    if not items:
        return []
    items = sorted(items, key=lambda i: i.article.slug)
    stmt = (
        insert_on_conflict(c, ARTICLES)
        .on_conflict_do_nothing(index_elements=["slug"])
        .returning(ARTICLES.c.slug)
    )
    rows = [{**_content(i), "first_imported_at": now, "last_imported_at": now} for i in items]
    inserted = set(c.execute(stmt, rows).scalars())
    return [i for i in items if i.article.slug not in inserted]


def settle_taken(c: Connection, items: Sequence[ArticleUpsert], now: datetime) -> int:
    """Write files whose slug another writer inserted first; return how many count as updated.

    Same bytes as the stored row: only the file stamp is refreshed, and the article is
    unchanged (updated if that row was hidden meanwhile: it is shown again, as sync counts
    a revived article). Other bytes (the file changed between the two reads): the content
    is rewritten in place, an update.
    """
    stored: dict[str, FileStamp] = {}
    slugs = [i.article.slug for i in items]
    for start in range(0, len(slugs), _IN_CHUNK):
        stored.update(file_stamps(c, slugs[start : start + _IN_CHUNK]))
    changed: list[ArticleUpsert] = []
    stamps: list[FileStamp] = []
    revived = 0
    for item in items:
        old = stored[item.article.slug]
        if old.content_hash != item.content_hash:
            changed.append(replace(item, id=old.id))
            continue
        revived += old.hidden
        if (old.source_path, old.mtime_ns, old.size, old.hidden) != (
            item.source_path,
            item.mtime_ns,
            item.size,
            False,
        ):
            stamps.append(
                FileStamp(
                    old.id, item.source_path, item.mtime_ns, item.size, item.content_hash, False
                )
            )
    update_content(c, changed, now)
    restamp(c, stamps)
    return len(changed) + revived


def update_content(c: Connection, items: Sequence[ArticleUpsert], now: datetime) -> None:
    """Rewrite changed article files in place (each keeps its id), re-imported at `now`."""
    if items:
        rows = [
            {**_content(i), "b_id": i.id, "last_imported_at": now}
            for i in sorted(items, key=lambda i: i.id or 0)
        ]
        c.execute(update(ARTICLES).where(ARTICLES.c.id == bindparam("b_id")), rows)


def restamp(c: Connection, stamps: Sequence[FileStamp]) -> None:
    """Record new file stamps of unchanged content, showing the articles again."""
    if stamps:
        rows = [
            {
                "b_id": s.id,
                "source_path": s.source_path,
                "file_mtime_ns": s.mtime_ns,
                "file_size": s.size,
                "hidden": False,
            }
            for s in sorted(stamps, key=lambda s: s.id)
        ]
        c.execute(update(ARTICLES).where(ARTICLES.c.id == bindparam("b_id")), rows)


def hide(c: Connection, slugs: Iterable[str]) -> None:
    """Hide the articles whose files vanished (their rows and ledger history stay)."""
    slugs = sorted(slugs)
    for start in range(0, len(slugs), _IN_CHUNK):
        chunk = slugs[start : start + _IN_CHUNK]
        c.execute(update(ARTICLES).where(ARTICLES.c.slug.in_(chunk)).values(hidden=True))


# -- reads ------------------------------------------------------------------------------


def file_stamps(c: Connection, slugs: Sequence[str] | None = None) -> dict[str, FileStamp]:
    """Return every article's file stamp (or those of `slugs`), keyed by slug."""
    query = select(
        ARTICLES.c.slug,
        ARTICLES.c.id,
        ARTICLES.c.source_path,
        ARTICLES.c.file_mtime_ns.label("mtime_ns"),
        ARTICLES.c.file_size.label("size"),
        ARTICLES.c.content_hash,
        ARTICLES.c.hidden,
    )
    if slugs is not None:
        query = query.where(ARTICLES.c.slug.in_(list(slugs)))
    found: dict[str, FileStamp] = {}
    for row in c.execute(query).mappings():
        values = dict(row)
        slug = values.pop("slug")
        found[slug] = FileStamp(**values)
    return found


def newest(c: Connection, topic_id: int | None = None) -> StoredArticle | None:
    """Return the newest visible article (of one topic, when given)."""
    query = _in_topic(select(*_COLUMNS).where(_VISIBLE), topic_id)
    return _first(c, query.order_by(*NEWEST_FIRST).limit(1))


def newest_of_topics(c: Connection, topic_ids: Collection[int]) -> StoredArticle | None:
    """Return the newest visible article in any of these topics."""
    tagged = select(ARTICLE_TOPICS.c.article_id).where(
        ARTICLE_TOPICS.c.topic_id.in_(list(topic_ids))
    )
    query = select(*_COLUMNS).where(_VISIBLE, ARTICLES.c.id.in_(tagged))
    return _first(c, query.order_by(*NEWEST_FIRST).limit(1))


def by_id(c: Connection, article_id: int) -> StoredArticle | None:
    """Return the article with this id, hidden or not."""
    return _first(c, select(*_COLUMNS).where(ARTICLES.c.id == article_id))


def visible_by_slug(c: Connection, slug: str) -> StoredArticle | None:
    """Return the visible article with this slug."""
    return _first(c, select(*_COLUMNS).where(ARTICLES.c.slug == slug, _VISIBLE))


def by_ids(c: Connection, ids: Sequence[int]) -> dict[int, StoredArticle]:
    """Return the articles with these ids (hidden included), keyed by id."""
    if not ids:
        return {}
    found = _all(c, select(*_COLUMNS).where(ARTICLES.c.id.in_(list(ids))))
    return {stored.id: stored for stored in found}


def visible_page(
    c: Connection, *, offset: int = 0, limit: int | None = None, topic_id: int | None = None
) -> list[StoredArticle]:
    """Return visible articles (of one topic), newest first, from `offset` (all: no `limit`)."""
    query = _in_topic(select(*_COLUMNS).where(_VISIBLE), topic_id)
    query = query.order_by(*NEWEST_FIRST).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return _all(c, query)


def count_visible(c: Connection, topic_id: int | None = None) -> int:
    """Return how many visible articles there are (of one topic, when given)."""
    query = _in_topic(select(func.count()).select_from(ARTICLES).where(_VISIBLE), topic_id)
    return int(c.scalar(query) or 0)


def count_by_hidden(c: Connection) -> tuple[int, int]:
    """Return how many articles are visible and how many hidden."""
    counts: dict[bool, int] = dict(
        c.execute(select(ARTICLES.c.hidden, func.count()).group_by(ARTICLES.c.hidden)).all()
    )
    return int(counts.get(False, 0)), int(counts.get(True, 0))


# The shortest word a trigram index can find; shorter words (two Chinese characters are a
# common query) are matched by scanning the newest articles instead.
TRIGRAM = 3
# How many matches are ranked: those imported last. Ranking every match of a common word
# costs a read of every article (~1 s at 100 000).
CANDIDATES = 200
# PostgreSQL: how many of the newest articles are searched first. Their share of matches tells
# how common the words are: a word in a sixth of the articles or more has its CANDIDATES among
# them (one statement), a rare one is cheaper to read in full (see _pg_search). Measured at
# 100 000 articles (bench queries): 1 200 against 250 cut p99 by a quarter, p50 unchanged;
# the window's ids cost little next to a second round trip.
SAMPLE = 1200
# How many of the newest articles a query of only 1–2 character words searches: no trigram
# index can look those up, so an absent word costs a scan of this many articles, not all.
SHORT_REACH = 5000
# PostgreSQL: reading one matching row (its heap page, its text) costs about as much as this
# many ids of a window in the (id, search_text) GIN index (measured at 100 000 articles,
# migration 0011: ~10 µs a row, ~0.2 µs an id).
_ROW_PER_ID = 50
# Article length (characters) added before dividing occurrences by it: a short article
# with one match does not outrank a long one that is about the word.
_LENGTH_DAMPING = 1000

# A PostgreSQL window of the newest ids: the first SAMPLE, from a bound `low` id, or none.
_Window = Literal["sample", "low", "all"]
# Bound, as the constants above, when a search runs: a cached statement reads them afresh.
_CANDIDATES = bindparam("candidates_n", type_=Integer)


def search_terms(words: Sequence[str]) -> tuple[str, ...]:
    """Return the distinct casefolded words of a query, in their order."""
    return tuple(dict.fromkeys(w.casefold() for w in words if w.strip()))


def search_reach(words: Sequence[str]) -> int | None:
    """Return how many of the newest articles a query searches (None: every article)."""
    terms = search_terms(words)
    return SHORT_REACH if terms and all(len(t) < TRIGRAM for t in terms) else None


def _term(i: int) -> Any:
    return bindparam(f"term_{i}", type_=Text)


def _contains(dialect: str, i: int) -> Any:
    """Return a condition true when search_text holds term i (no index; literal, no pattern)."""
    find = func.instr if dialect == "sqlite" else func.strpos
    return find(ARTICLES.c.search_text, _term(i)) > 0


def _fts_phrase(terms: Sequence[str]) -> str:
    """Return an FTS5 query matching every term literally (each a quoted string)."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _tagged() -> Any:
    """Return a condition true when the article has the bound tag (`topic`, a LIKE pattern).

    Tags are a JSON array kept as text, each written as json.dumps writes it: matching the
    quoted string matches one whole tag, on SQLite and PostgreSQL alike.
    """
    return cast(ARTICLES.c.tags, Text).like(bindparam("topic", type_=Text), escape="\\")


def _tag_pattern(topic: str) -> str:
    """Return the LIKE pattern `_tagged` binds for one tag."""
    return f"%{_like(json.dumps(topic))}%"


def _best(dialect: str, n: int, candidates: Select[Any], *, counted: bool) -> Select[Any]:
    """Select the `limit` most relevant of the candidates' articles (from `offset`), in full.

    `counted` adds how many candidates there were (`candidates`) and the largest id (`top`).

    Relevance is the words' occurrences per length of text (see _LENGTH_DAMPING), ties going
    to the newest, computed where the text is read: one statement, and no text but the
    chosen articles' leaves the database. An occurrence count is the size the term takes in
    the text (its size less its size with the term removed) over the term's size (`size_i`):
    in bytes on PostgreSQL (counting the characters of a replaced text cost more than the
    rest of reading the row), in characters on SQLite.
    """
    text_ = ARTICLES.c.search_text
    size = func.length if dialect == "sqlite" else func.octet_length
    # `op("/")`: integer division on both backends, as both divide integers so.
    counts = [
        (size(text_) - size(func.replace(text_, _term(i), "")))
        .self_group()
        .op("/")(bindparam(f"size_{i}", type_=Integer))
        for i in range(n)
    ]
    occurrences = functools.reduce(operator.add, counts)
    relevance = (cast(occurrences, Float) / (func.length(text_) + _LENGTH_DAMPING)).label("rank")
    # Ranked on narrow rows, then only the chosen articles are read in full.
    # Counted only where asked: SQLite's window function doubles the statement's time.
    count = [func.count().over().label("candidates")] if counted else []
    best = (
        select(ARTICLES.c.id, relevance, *count)
        .where(ARTICLES.c.id.in_(candidates))
        .order_by(relevance.desc(), *NEWEST_FIRST)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
        .subquery()
    )
    extra = [best.c.candidates, _newest_id().label("top")] if counted else []
    return (
        select(*_COLUMNS, *extra)
        .join_from(ARTICLES, best, ARTICLES.c.id == best.c.id)
        .order_by(best.c.rank.desc(), *NEWEST_FIRST)
    )


def _newest_id() -> Any:
    """Return the largest id as a subquery: the archive's size, the newest article's id.

    Ids grow with each import, so the newest articles are the top of the key's range (a few
    ids are gaps left by deleted rows).
    """
    return select(func.max(ARTICLES.c.id)).scalar_subquery()


def _short_candidates(dialect: str, n: int, *, topic: bool) -> Select[Any]:
    """Select the CANDIDATES last imported matches of 1–2 character words, in the newest ids.

    The scan walks the primary key backwards and stops at CANDIDATES matches.
    """
    return (
        select(ARTICLES.c.id)
        .where(
            *(_contains(dialect, i) for i in range(n)),
            ARTICLES.c.id > _newest_id() - bindparam("reach", type_=Integer),
            # Not `hidden IS 0`: SQLite would take ix_articles_visible_date for it and read
            # every visible article, where the key's range is at most SHORT_REACH rows.
            ARTICLES.c.hidden.is_not(True),
            *([_tagged()] if topic else []),
        )
        .order_by(ARTICLES.c.id.desc())
        .limit(_CANDIDATES)
    )


def _fts_candidates(long: Sequence[bool], *, topic: bool) -> Select[Any]:
    """Select the CANDIDATES last imported matches on SQLite, through the FTS5 trigram index.

    FTS5 walks its doclists from the newest rowid and stops at CANDIDATES: a word in every
    article costs no more than a rare one, and no article row is read (bar those a 1–2
    character word or the topic then rejects). The index holds only visible articles
    (migration 0010's triggers), so `hidden` needs no check. `long[i]`: term i has 3+
    characters (it is in the bound `phrase`).
    """
    fts = table("articles_fts", column("rowid", Integer))
    match = literal_column("articles_fts").match(bindparam("phrase", type_=Text))
    newest = fts.c.rowid.desc()
    rest = [_contains("sqlite", i) for i, is_long in enumerate(long) if not is_long]
    if topic:
        rest.append(_tagged())
    if not rest:
        # Alone, FTS5 is told the limit and reads only that much of its doclists
        # (measured: 1 ms against 8 ms joined, a word in every article).
        return select(fts.c.rowid).where(match).order_by(newest).limit(_CANDIDATES)
    # The other conditions filter the index's hits, so the limit comes after them: a join.
    return (
        select(ARTICLES.c.id)
        .select_from(fts.join(ARTICLES, ARTICLES.c.id == fts.c.rowid))
        .where(match, *rest)
        .order_by(newest)
        .limit(_CANDIDATES)
    )


def _pg_candidates(long: Sequence[bool], window: _Window, *, topic: bool) -> Select[Any]:
    """Select the CANDIDATES last imported matches on PostgreSQL within a window of ids.

    A 3+ character term is `search_text LIKE :like_i`, which the (id, search_text) GIN index
    answers together with the window's `id > …` (migration 0011).
    """
    text_ = ARTICLES.c.search_text
    matches = select(ARTICLES.c.id).where(
        _VISIBLE,
        *(
            text_.like(bindparam(f"like_{i}", type_=Text), escape="\\")
            if is_long
            else _contains("postgresql", i)
            for i, is_long in enumerate(long)
        ),
        *([_tagged()] if topic else []),
    )
    if window == "sample":
        matches = matches.where(ARTICLES.c.id > _newest_id() - bindparam("sample", type_=Integer))
    elif window == "low":
        matches = matches.where(ARTICLES.c.id > bindparam("low", type_=Integer))
    return matches.order_by(ARTICLES.c.id.desc()).limit(_CANDIDATES)


# Building a statement in SQLAlchemy costs more than running it on a small archive (~1.5 ms
# against ~0.4 ms, measured), so each shape is built once. Shapes are few: a query's 3+
# character terms come first (see _Search), so a shape is a count of each kind of term.
@functools.lru_cache(maxsize=512)
def _statement(
    dialect: str, long: tuple[bool, ...], window: _Window, *, topic: bool
) -> Select[Any]:
    """Return the search statement of one shape; the terms, limit and offset are bound."""
    n = len(long)
    if not any(long):
        return _best(dialect, n, _short_candidates(dialect, n, topic=topic), counted=False)
    if dialect == "sqlite":
        return _best(dialect, n, _fts_candidates(long, topic=topic), counted=False)
    return _best(dialect, n, _pg_candidates(long, window, topic=topic), counted=True)


class _Search:
    """One search's bound values, and its statements run on one connection."""

    def __init__(
        self, c: Connection, terms: Sequence[str], topic: str, limit: int, offset: int
    ) -> None:
        self.c = c
        self.dialect = c.dialect.name
        # Conditions and rank are sums and ANDs of the terms: their order changes nothing.
        terms = sorted(terms, key=lambda t: len(t) < TRIGRAM)
        self.long = tuple(len(t) >= TRIGRAM for t in terms)
        self.topic = bool(topic)
        sqlite = self.dialect == "sqlite"
        self.params: dict[str, Any] = {
            "limit": limit,
            "offset": offset,
            "candidates_n": CANDIDATES,
            "sample": SAMPLE,
            "reach": SHORT_REACH,
        }
        for i, t in enumerate(terms):
            self.params[f"term_{i}"] = t
            self.params[f"size_{i}"] = len(t if sqlite else t.encode())
            self.params[f"like_{i}"] = f"%{_like(t)}%"
        if sqlite:
            self.params["phrase"] = _fts_phrase([t for t in terms if len(t) >= TRIGRAM])
        if topic:
            self.params["topic"] = _tag_pattern(topic)

    def rows(self, window: _Window = "all", low: int = 0) -> list[Row[Any]]:
        """Run the statement of this search's shape (in one PostgreSQL window of ids)."""
        stmt = _statement(self.dialect, self.long, window, topic=self.topic)
        # A shape ignores the values it does not bind (SQLAlchemy picks its own by name).
        params = {**self.params, "low": low} if window == "low" else self.params
        return list(self.c.execute(stmt, params))


def _pg_search(search: _Search) -> list[Row[Any]]:
    """Return the best of the CANDIDATES last imported matches on PostgreSQL.

    Its costly part is reading a match's row (to recheck the trigrams' hit), so the
    (id, search_text) GIN index (migration 0011) is asked for the matches among the newest
    ids only (`id > low`, in the same index): first the newest SAMPLE, then windows sized
    by the share of matches found so far to hold CANDIDATES with room to spare, until
    reading every match is expected to cost less than the next window.
    """
    found = search.rows("sample")
    if not found:  # fewer than one match in SAMPLE: rare enough to read every match
        return search.rows("all")
    count, top = int(found[0].candidates), int(found[0].top)
    reach = SAMPLE
    while count < CANDIDATES and reach < top:
        share = max(count, 1) / reach  # matches per id (a row hidden meanwhile: not 0)
        reach = max(2 * reach, int(1.5 * CANDIDATES / share))
        # The window's index ids and matching rows against every match's row.
        if reach >= top or reach / _ROW_PER_ID + CANDIDATES >= share * top:
            return search.rows("all")
        found = search.rows("low", top - reach)
        count = int(found[0].candidates) if found else 0
    return found


def search(
    c: Connection, words: Sequence[str], *, limit: int, offset: int = 0, topic: str = ""
) -> list[StoredArticle]:
    """Return visible articles containing every word (case-insensitive), most relevant first.

    Relevance is how often the words occur per length of the article, ties going to the
    newest; the CANDIDATES last imported matches (with the tag `topic`, when given) are
    ranked, and `limit` of them returned from `offset`. Words of 3+ characters are looked up
    in the trigram index (migrations 0010, 0011); a query of only shorter words searches the
    newest SHORT_REACH articles.
    """
    terms = search_terms(words)
    if not terms or limit < 1:
        return []
    query = _Search(c, terms, topic, limit, offset)
    indexed_pg = query.dialect == "postgresql" and any(query.long)
    return [_stored(row._mapping) for row in (_pg_search(query) if indexed_pg else query.rows())]


def visible_ids(c: Connection, *, newest_first: bool) -> list[int]:
    """Return the ids of visible articles in push order (newest or oldest first)."""
    order = NEWEST_FIRST if newest_first else OLDEST_FIRST
    return list(c.scalars(select(ARTICLES.c.id).where(_VISIBLE).order_by(*order)))


# -- reads for the web reader -----------------------------------------------------------


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def archive(
    c: Connection, words: Sequence[str], topic: str, *, offset: int, limit: int
) -> list[StoredArticle]:
    """Return one page of visible articles with the topic: the search's, else newest first.

    With words, the page is `search`'s ranking (one search policy for /search and the web
    reader); without, every article (of the topic), newest first.
    """
    if search_terms(words):
        return search(c, words, limit=limit, offset=offset, topic=topic)
    query = select(*_COLUMNS).where(_VISIBLE)
    if topic:
        query = query.where(_tagged())
    query = query.order_by(*NEWEST_FIRST).offset(offset).limit(limit)
    return [_stored(row) for row in c.execute(query, {"topic": _tag_pattern(topic)}).mappings()]


# A query's WHERE clause and ORDER BY, tried in turn by neighbours().
_Candidate = tuple[Any, tuple[Any, ...]]


def neighbours(
    c: Connection, stored: StoredArticle
) -> tuple[tuple[int, str] | None, tuple[int, str] | None]:
    """Return the visible (id, title) just older and just newer than an article, newest first."""
    day, ident, col = stored.article.date, stored.id, ARTICLES.c
    by_id_desc, by_id_asc = (col.id.desc(),), (col.id.asc(),)
    # Each candidate is one seek on ix_articles_visible_date (hidden, date, id); an OR of them
    # would scan every article (12 ms at 10 000 articles, measured), the seeks take ~0.1 ms.
    older: list[_Candidate]
    newer: list[_Candidate]
    if day is None:
        older = [(and_(col.date.is_(None), col.id < ident), by_id_desc)]
        newer = [
            (and_(col.date.is_(None), col.id > ident), by_id_asc),
            (col.date.is_not(None), (col.date.asc(), col.id.asc())),
        ]
    else:
        older = [
            (and_(col.date == day, col.id < ident), by_id_desc),
            (col.date < day, (col.date.desc(), col.id.desc())),
            (col.date.is_(None), by_id_desc),
        ]
        newer = [
            (and_(col.date == day, col.id > ident), by_id_asc),
            (col.date > day, (col.date.asc(), col.id.asc())),
        ]
    return _first_of(c, older), _first_of(c, newer)


def _first_of(
    c: Connection, candidates: Sequence[tuple[Any, Sequence[Any]]]
) -> tuple[int, str] | None:
    """Return the (id, title) of the first candidate query that finds a visible article."""
    for where, order in candidates:
        query = select(ARTICLES.c.id, ARTICLES.c.title).where(_VISIBLE, where)
        row = c.execute(query.order_by(*order).limit(1)).first()
        if row is not None:
            return int(row[0]), str(row[1])
    return None
