"""Reading an uploaded spreadsheet, streamed: a CSV through the `csv` module over an incremental
decoder, an XLSX through openpyxl's read-only mode, one row at a time, so memory stays flat
whatever the file's size. Rows are numbered as a spreadsheet shows them (the header is row 1).

django-import-export and tablib load a whole file into a Dataset, and refuse a ragged row for the
whole file; an import must report each bad row and go on, so rows are read here directly.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import IO, Any, Iterator

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# A cell longer than a spreadsheet program can hold is not data a person typed.
CELL_LIMIT = 32767
csv.field_size_limit(64 * 1024 * 1024)  # read huge cells whole, then refuse them by row with their length
SAMPLE_BYTES = 64 * 1024

ENCODINGS = (("", gettext_lazy("Detect automatically")), ("utf-8", "UTF-8"),
             ("gb18030", gettext_lazy("GB18030 / GBK (Chinese)")), ("big5", gettext_lazy("Big5 (Traditional Chinese)")),
             ("cp1252", gettext_lazy("Windows-1252 (Western European)")))
# charset-normalizer names the Chinese code pages separately; GB18030 reads all of them.
CHINESE = {"gb2312", "gbk", "gb18030", "hz", "cp936"}


class FileProblem(Exception):
    """The file cannot be read at all (not a row of it): the reason names what to do."""


@dataclass
class Row:
    number: int  # as a spreadsheet shows it: the header is row 1
    cells: list[Any]
    width: int  # cells the row really has (a CSV row may be shorter or longer than the header)


def file_format(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".csv") or lowered.endswith(".txt"):
        return "csv"
    if lowered.endswith(".xlsx"):
        return "xlsx"
    if lowered.endswith(".xls"):
        raise FileProblem(_("Old Excel files (.xls) cannot be read: save the sheet as .xlsx or .csv and upload "
                            "it again."))
    raise FileProblem(_("Upload a .csv or .xlsx file."))


def detect_encoding(stream: IO[bytes], chosen: str = "") -> str:
    """The encoding to read a CSV with: the one chosen, else UTF-8 (with or without BOM) if the
    whole file is valid UTF-8, else what charset-normalizer finds in its beginning."""
    stream.seek(0)
    head = stream.read(SAMPLE_BYTES)
    stream.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if chosen:
        return chosen
    if _decodes(stream, "utf-8"):
        return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    name = (best.encoding if best is not None else "").lower().replace("_", "-")
    if name.replace("-", "") in CHINESE or name in CHINESE:
        return "gb18030"
    return name or "gb18030"


def _decodes(stream: IO[bytes], encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for chunk in iter(lambda: stream.read(SAMPLE_BYTES), b""):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return True
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)


def read_rows(stream: IO[bytes], fmt: str, encoding: str = "utf-8") -> Iterator[Row]:
    """Every row of the file's first sheet, the header first."""
    if fmt == "xlsx":
        yield from _xlsx_rows(stream)
    else:
        yield from _csv_rows(stream, encoding)


def _csv_rows(stream: IO[bytes], encoding: str) -> Iterator[Row]:
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    number = 0
    try:
        first = text.readline(SAMPLE_BYTES)
        text.seek(0)
        reader = csv.reader(text, delimiter=delimiter(first))
        for cells in reader:
            number += 1
            yield Row(number, cells, len(cells))
    except UnicodeDecodeError:
        raise FileProblem(_("Row %(row)d is not valid %(encoding)s text: choose the file's encoding and upload it "
                            "again.") % {"row": number + 1, "encoding": encoding}) from None
    except csv.Error as exc:
        raise FileProblem(_("Row %(row)d cannot be read as CSV (%(error)s).")
                          % {"row": number + 1, "error": exc}) from None
    finally:
        text.detach()


def delimiter(header: str) -> str:
    """The separator the header row uses most: comma, semicolon (European Excel), tab or bar."""
    counts = {candidate: header.count(candidate) for candidate in (",", ";", "\t", "|")}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


def _xlsx_rows(stream: IO[bytes]) -> Iterator[Row]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    stream.seek(0)
    try:
        # Formulas are read as written (=SUM(...)), so a formula cell is reported, never guessed.
        book = load_workbook(stream, read_only=True, data_only=False)
    except (BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise FileProblem(_("This is not a readable .xlsx file: save it again from your spreadsheet "
                            "program.")) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            return
        for number, cells in enumerate(sheet.iter_rows(), start=1):
            values = [_xlsx_value(cell) for cell in cells]
            while values and values[-1] in (None, ""):
                values.pop()  # a sheet's rows end where their last filled cell is
            yield Row(number, values, len(values))
    finally:
        book.close()


def _xlsx_value(cell: Any) -> Any:
    value = cell.value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "%" in (cell.number_format or ""):
        return f"{value * 100:g}%"  # shown as 15%, stored as 0.15
    if isinstance(value, dt.time):
        return value.isoformat()
    return value


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def header_names(cells: list[Any]) -> list[str]:
    """Column names; an empty header cell is named by its position."""
    return [str(cell).strip() if not blank(cell) else _("Column %(number)d") % {"number": i}
            for i, cell in enumerate(cells, start=1)]


def table(stream: IO[bytes], fmt: str, encoding: str) -> tuple[list[str], Iterator[Row]]:
    """The column names and the rows under them (blank rows left out). An empty file is refused."""
    rows = read_rows(stream, fmt, encoding)
    header = next(rows, None)
    while header is not None and all(blank(cell) for cell in header.cells):
        header = next(rows, None)  # blank lines above the header
    if header is None:
        raise FileProblem(_("The file is empty."))
    return header_names(header.cells), (row for row in rows if not all(blank(cell) for cell in row.cells))


def inspect(stream: IO[bytes], fmt: str, encoding: str, samples: int = 3) -> tuple[list[str], list[list[str]], int]:
    """The header, the first rows (as text, for the mapping page) and the number of rows under the
    header. An empty file or one with no rows under its header is refused with the reason."""
    names, rows = table(stream, fmt, encoding)
    shown: list[list[str]] = []
    count = 0
    for row in rows:
        count += 1
        if len(shown) < samples:
            shown.append([display(cell)[:80] for cell in row.cells[:len(names)]])
    if count == 0:
        raise FileProblem(_("The file has column names but no rows under them."))
    return names, shown, count


def display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
