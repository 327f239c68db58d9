"""DataTables updated by row key, and the post stream shared by the overview and the live screen.

Redrawing a table from scratch every second loses the reader's cursor and costs O(rows); here
rows are updated in place by key, added, or removed, and the caller wraps the whole refresh in
`app.batch_update()` so the screen repaints once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from monitor.ui.data import PostView
from monitor.ui.format import Palette, cell, compound_text


@dataclass(frozen=True, slots=True)
class Col:
    key: str
    label: str
    width: int | None = None  # None: as wide as the content


def set_columns(table: DataTable, cols: Sequence[Col]) -> bool:
    """Give `table` these columns; returns True when it had to be rebuilt (rows are then gone)."""
    current = [
        (str(c.key.value), c.label.plain, c.width if not c.auto_width else None)
        for c in table.columns.values()
    ]
    wanted = [(c.key, c.label, c.width) for c in cols]
    if current == wanted:
        return False
    table.clear(columns=True)
    for c in cols:
        table.add_column(Text(c.label, end=""), key=c.key, width=c.width)
    return True


def sync_rows(table: DataTable, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
    """Make `table` show `rows` (key, cells) in this order, keeping the cursor on the same key.

    Same keys in the same order: cells are updated in place. Otherwise the rows are re-added;
    the tables that use this hold a few dozen rows at most.
    """
    keys = [k for k, _ in rows]
    current = [str(r.key.value) for r in table.ordered_rows]
    col_keys = [str(c.key.value) for c in table.ordered_columns]
    if keys == current:
        for key, cells in rows:
            for col, value in zip(col_keys, cells, strict=False):
                table.update_cell(key, col, value, update_width=True)
        return
    focused = _cursor_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    _restore_cursor(table, focused)


def _cursor_key(table: DataTable) -> str | None:
    if not table.row_count:
        return None
    try:
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
    except Exception:  # cursor outside the rows
        return None


def _restore_cursor(table: DataTable, key: str | None) -> None:
    if key is None:
        return
    try:
        table.move_cursor(row=table.get_row_index(key), animate=False, scroll=False)
    except RowDoesNotExist:
        pass


def cursor_key(table: DataTable) -> str | None:
    """The row key under the cursor, or None for an empty table."""
    return _cursor_key(table)


class _Newest(Text):
    """A cell that carries its post's order, so the stream can sort newest first."""

    order: tuple[float, int]


def short_time(dt: datetime, now: datetime | None) -> str:
    """ "14:04" today (UTC), " 3 Mar" before: six cells either way, so the column never moves."""
    if now is not None and dt.date() != now.date():
        return f"{dt.day:>2} {dt:%b}"
    return f" {dt:%H:%M}"


def _time_cell(post: PostView, now: datetime | None, palette: Palette) -> Text:
    out = _Newest(short_time(post.created_at, now), style=palette.muted, end="", no_wrap=True)
    out.order = _order(post)
    return out


def _order(post: PostView) -> tuple[float, int]:
    """Newest by the time it was posted, then by arrival: a poll stores a page in no useful order."""
    return post.created_at.timestamp(), post.id


class PostStream(DataTable):
    """The newest posts first, at most `cap` rows; older ones stay in the store.

    New posts are added by key and the oldest removed by key, then the rows are re-sorted
    (posting time, then arrival): `remove_row` is O(rows), which is why the cap is a few hundred.
    The text column takes whatever width the others leave, so a 10,000-character post is one
    cut line.
    """

    def __init__(self, *, cap: int, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.cap = cap
        self.posts: dict[int, PostView] = {}
        self.cursor: int | None = (
            None  # the newest post id already searched; see Store.latest_posts
        )
        self._palette = Palette()
        self._now: datetime | None = None

    def _columns(self) -> list[Col]:
        wide = self.size.width >= 100
        fixed = [
            Col("time", "time", 6),
            Col("source", "source", 14 if wide else 10),
            Col("score", "score", 10),
        ]
        if wide:
            fixed.append(Col("author", "author", 16))
        used = sum((c.width or 0) + 2 for c in fixed) + 2 + 1  # own padding, scrollbar
        return [*fixed, Col("text", "text", max(self.size.width - used, 20))]

    def _cells(self, p: PostView, cols: Sequence[Col]) -> list[Text]:
        width = {c.key: c.width or 20 for c in cols}
        cells = [
            _time_cell(p, self._now, self._palette),
            cell(p.source, width["source"]),
            compound_text(p.compound, self._palette),
        ]
        if "author" in width:
            cells.append(cell(p.author or "", width["author"], self._palette.muted))
        cells.append(cell(p.text, width["text"]))
        return cells

    def add_posts(
        self, posts: Sequence[PostView], palette: Palette, now: datetime, cursor: int | None
    ) -> None:
        """Add what is new (`posts` newest first), drop the oldest beyond the cap."""
        restyle = palette != self._palette or (
            self._now is not None and self._now.date() != now.date()
        )
        self._palette, self._now = palette, now
        if cursor is not None:
            self.cursor = max(cursor, self.cursor or 0)
        fresh = [p for p in posts if p.id not in self.posts]
        for p in fresh:
            self.posts[p.id] = p
        oldest_first = sorted(self.posts.values(), key=_order)
        for old in oldest_first[: max(len(self.posts) - self.cap, 0)]:
            del self.posts[old.id]
        cols = self._columns()
        if restyle or set_columns(self, cols):
            self._rebuild(cols)
            return
        if not fresh:
            return
        focused = _cursor_key(self)
        at_top = self.cursor_row == 0
        for p in fresh:
            if p.id in self.posts:
                self.add_row(*self._cells(p, cols), key=str(p.id))
        for row in list(self.rows):
            if row.value is not None and int(row.value) not in self.posts:
                self.remove_row(row)
        self.sort("time", key=lambda c: c.order, reverse=True)
        if not at_top:
            _restore_cursor(self, focused)

    def clear_posts(self) -> None:
        self.posts.clear()
        self.cursor = None
        self.clear()

    def _rebuild(self, cols: list[Col]) -> None:
        focused = _cursor_key(self)
        set_columns(self, cols)
        self.clear()
        for post in sorted(self.posts.values(), key=_order, reverse=True):
            self.add_row(*self._cells(post, cols), key=str(post.id))
        _restore_cursor(self, focused)

    def on_resize(self) -> None:
        cols = self._columns()
        if set_columns(self, cols):
            self._rebuild(cols)

    def selected_post(self) -> PostView | None:
        key = _cursor_key(self)
        return self.posts.get(int(key)) if key is not None else None
