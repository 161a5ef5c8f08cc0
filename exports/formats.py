"""The two file formats of an export, written a row at a time so memory stays flat whatever the
number of rows: CSV (UTF-8 with a byte order mark, so spreadsheet programs read Chinese names)
and XLSX (openpyxl's write-only workbook, which streams its sheet to a temporary file).

tablib's own export builds the whole file in memory, and django-import-export's formula escaping
only drops a leading "=": so the rows come from the resource (exports.resources) and are written
here, every cell escaped the OWASP way."""
from __future__ import annotations

import csv
import re
from typing import IO, Any, Iterable, Iterator

from import_export.formats.base_formats import CSV, XLSX

# A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Control characters an XLSX file cannot hold (openpyxl refuses them).
ILLEGAL_XLSX = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
# Characters a worksheet title may not contain.
ILLEGAL_TITLE = re.compile(r"[\[\]:*?/\\]")
FORMATS = {"csv": CSV(), "xlsx": XLSX()}


def escape_formula(value: Any) -> str:
    """Neutralise a cell a spreadsheet would evaluate, with a leading apostrophe."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def content_type(name: str) -> str:
    content = FORMATS[name].get_content_type()
    return f"{content}; charset=utf-8" if name == "csv" else content


def extension(name: str) -> str:
    return FORMATS[name].get_extension()


class _Echo:
    """A file-like object whose write() returns the line, so csv.writer builds strings."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(rows: Iterable[list[Any]]) -> Iterator[str]:
    """The CSV text of `rows` (the header first), a row at a time."""
    writer = csv.writer(_Echo())
    first = True
    for row in rows:
        line = writer.writerow([escape_formula(cell) for cell in row])
        # The byte order mark makes spreadsheet programs read UTF-8 (Chinese names) correctly.
        yield "\ufeff" + line if first else line
        first = False


def write_csv(rows: Iterable[list[Any]], out: IO[bytes], *, title: str = "") -> None:
    for chunk in csv_chunks(rows):
        out.write(chunk.encode("utf-8"))


def write_xlsx(rows: Iterable[list[Any]], out: IO[bytes], *, title: str = "") -> None:
    """One worksheet of text cells (empty values left empty); the header row first. Every cell is
    text, as the list shows it, so no value is ever read as a formula or a number it was not."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import save_workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(ILLEGAL_TITLE.sub(" ", title).strip()[:31] or "Export")
    for row in rows:
        sheet.append([ILLEGAL_XLSX.sub("\ufffd", text) if (text := escape_formula(cell)) else None for cell in row])
    save_workbook(book, out)


WRITERS = {"csv": write_csv, "xlsx": write_xlsx}
