"""Queries on `articles`: the sync's writes and every read of articles; the table's one writer.

Several processes may sync the same files at once (two instances starting, an import beside
the bot), so inserts tolerate a row another writer added first, and every write goes in slug
or id order: PostgreSQL then takes row locks in the same order in every writer (no deadlock).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import fields, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
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
# How many of the newest articles are scanned first. Their share of matches tells how common
# the words are: a common word's CANDIDATES matches are among the newest few hundred, where a
# scan stops early, while the trigram index must read and sort every match (PostgreSQL reads
# ~94 000 for a word in most articles); a rare word is cheaper through the index.
SAMPLE = 250
# How many of the newest articles a query of only 1–2 character words searches: no trigram
# index can look those up, so an absent word costs a scan of this many articles, not all.
SHORT_REACH = 5000
# Article length (characters) added before dividing occurrences by it: a short article
# with one match does not outrank a long one that is about the word.
_LENGTH_DAMPING = 1000


def search_terms(words: Sequence[str]) -> tuple[str, ...]:
    """Return the distinct casefolded words of a query, in their order."""
    return tuple(dict.fromkeys(w.casefold() for w in words if w.strip()))


def _contains(c: Connection, text_: Any, term: str) -> Any:
    """Return a condition true when `text_` holds `term` (no index; literal, no pattern)."""
    find = func.instr if c.dialect.name == "sqlite" else func.strpos
    return find(text_, term) > 0


def _relevance(text_: str, terms: Sequence[str]) -> float:
    """Return how often the terms occur per length of an article's text: the search's rank."""
    return sum(text_.count(term) for term in terms) / (len(text_) + _LENGTH_DAMPING)


def _newest_first(day: date | None, ident: int) -> tuple[bool, int, int]:
    """Return a sort key putting articles in NEWEST_FIRST order (ascending)."""
    return (day is None, -(day.toordinal() if day else 0), -ident)


def _fts_phrase(terms: Sequence[str]) -> str:
    """Return an FTS5 query matching every term literally (each a quoted string)."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


def search_reach(words: Sequence[str]) -> int | None:
    """Return how many of the newest articles a query searches (None: every article)."""
    terms = search_terms(words)
    return SHORT_REACH if terms and all(len(t) < TRIGRAM for t in terms) else None


def _scanned(c: Connection, terms: Sequence[str], ids: tuple[int, int]) -> list[int]:
    """Return the ids of the CANDIDATES last imported visible matches with ids in [low, high).

    The scan walks the primary key backwards and stops at CANDIDATES matches, so a common
    word costs a few hundred rows however wide the range is.
    """
    low, high = ids
    query = (
        select(ARTICLES.c.id)
        .where(
            ARTICLES.c.id >= low,
            ARTICLES.c.id < high,
            # Not `hidden IS 0`: SQLite would take ix_articles_visible_date for it and read
            # every visible article, where the key's range is a few hundred rows.
            ARTICLES.c.hidden.is_not(True),
            *(_contains(c, ARTICLES.c.search_text, t) for t in terms),
        )
        .order_by(ARTICLES.c.id.desc())
        .limit(CANDIDATES)
    )
    return list(c.scalars(query))


def _indexed(c: Connection, terms: Sequence[str]) -> list[int]:
    """Return the ids of the CANDIDATES last imported visible articles holding every term.

    At least one term has TRIGRAM characters: the trigram index finds the articles holding
    those, and the shorter terms filter them.
    """
    indexed = [t for t in terms if len(t) >= TRIGRAM]
    query = select(ARTICLES.c.id).where(
        _VISIBLE, *(_contains(c, ARTICLES.c.search_text, t) for t in terms if len(t) < TRIGRAM)
    )
    last_imported = ARTICLES.c.id.desc()
    if c.dialect.name == "sqlite":
        fts = table("articles_fts", column("rowid", Integer))
        query = query.join_from(fts, ARTICLES, fts.c.rowid == ARTICLES.c.id).where(
            literal_column("articles_fts").match(_fts_phrase(indexed))
        )
        # In the index's own order, FTS5 walks its doclists from the end and stops early.
        last_imported = fts.c.rowid.desc()
    else:
        query = query.where(
            *(ARTICLES.c.search_text.like(f"%{_like(t)}%", escape="\\") for t in indexed)
        )
    return list(c.scalars(query.order_by(last_imported).limit(CANDIDATES)))


def _candidates(c: Connection, terms: Sequence[str]) -> list[int]:
    """Return the ids of the matches to rank: the CANDIDATES last imported ones.

    The newest SAMPLE articles are scanned first; when they hold too few matches, the
    cheaper of scanning on (rows to read: CANDIDATES over the sampled share of matches) and
    the trigram index (rows: that share of every article) is taken. Both give the same ids.
    A query of only 1–2 character words searches the newest SHORT_REACH articles alone.
    """
    # Ids grow with each import, so the newest articles are the top of the key's range
    # (a few ids are gaps left by deleted rows) and the largest id is the archive's size.
    top = int(c.scalar(select(func.max(ARTICLES.c.id))) or 0) + 1
    sample = top - SAMPLE
    found = _scanned(c, terms, (sample, top))
    if len(found) == CANDIDATES or sample <= 0:
        return found
    if all(len(t) < TRIGRAM for t in terms):
        return found + _scanned(c, terms, (top - SHORT_REACH, sample))[: CANDIDATES - len(found)]
    if found:
        reach = 2 * CANDIDATES * SAMPLE // len(found)  # twice the expected rows, for slack
        if reach < len(found) * top // SAMPLE:  # the expected matches the index would read
            found += _scanned(c, terms, (top - reach, sample))[: CANDIDATES - len(found)]
            if len(found) == CANDIDATES:
                return found
    return _indexed(c, terms)


def search(c: Connection, words: Sequence[str], *, limit: int) -> list[StoredArticle]:
    """Return visible articles containing every word (case-insensitive), most relevant first.

    Relevance is how often the words occur per length of the article, ties going to the
    newest; the CANDIDATES last imported matches are ranked (see _candidates). Words of 3+
    characters are looked up in the trigram index (migration 0010); a query of only shorter
    words searches the newest SHORT_REACH articles.
    """
    terms = search_terms(words)
    if not terms or limit < 1:
        return []
    # Ranked here rather than in SQL: PostgreSQL would decompress each text once per
    # function of it in the rank; Python reads each once.
    rows = sorted(
        c.execute(
            select(ARTICLES.c.id, ARTICLES.c.date, ARTICLES.c.search_text).where(
                ARTICLES.c.id.in_(_candidates(c, terms))
            )
        ),
        key=lambda r: (-_relevance(r.search_text, terms), *_newest_first(r.date, r.id)),
    )
    best = [r.id for r in rows[:limit]]
    found = by_ids(c, best)
    return [found[i] for i in best]


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
    """Return visible articles with every word and the topic, newest first, one page."""
    query = select(*_COLUMNS).where(_VISIBLE)
    for word in words:
        query = query.where(ARTICLES.c.search_text.like(f"%{_like(word)}%", escape="\\"))
    if topic:
        # Tags are a JSON array kept as text, each written as json.dumps writes it: matching
        # the quoted string matches one whole tag, on SQLite and PostgreSQL alike.
        quoted = _like(json.dumps(topic))
        query = query.where(cast(ARTICLES.c.tags, Text).like(f"%{quoted}%", escape="\\"))
    return _all(c, query.order_by(*NEWEST_FIRST).offset(offset).limit(limit))


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
