"""Writes the import test corpus (run from the repository root when a file needs to change):
/work/main/.venv/bin/python tests/data/imports/make_corpus.py"""
from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path

HERE = Path(__file__).resolve().parent


def text(name: str, content: str, encoding: str = "utf-8", bom: bool = False) -> None:
    data = content.encode(encoding)
    (HERE / name).write_bytes((codecs.BOM_UTF8 if bom else b"") + data)


def xlsx(name: str, rows: list[list]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(HERE / name)


# Leads as a Chinese Excel export saves them: GBK, Chinese headers, labels of picklists in Chinese.
text("gbk_leads.csv", "姓,名,公司,邮箱,手机,状态,来源\r\n"
     "张,伟,北京星辰科技有限公司,zhang.wei@example.cn,138 0013 8000,新建,活动\r\n"
     "李,娜,上海云海贸易,li.na@example.cn,139-0013-9000,已联系,推荐\r\n", encoding="gbk")
# UTF-8 with a BOM, headers mixing English and Chinese, picklist values and labels mixed.
text("bom_mixed_headers.csv", "Last name,名,Company,E-mail,电话,Status\r\n"
     "Smith,John,Acme Ltd,john@acme.test,+1 (555) 010-2000,Contacted\r\n"
     "王,芳,星辰科技,wang.fang@example.cn,13800138001,qualified\r\n", bom=True)
# Row 3 has one cell too many (an unquoted comma), row 4 one too few.
text("ragged_rows.csv", "Last name,Company,Email\n"
     "Good,Fine Ltd,good@example.test\n"
     "Extra,Acme, Inc.,extra@example.test\n"
     "Short,Nothing else\n"
     "Also good,Fine Ltd,also@example.test\n")
text("empty.csv", "")
text("header_only.csv", "Last name,Company,Email\r\n")
# Row 2's company is a formula; row 3 is plain.
text("formula_cells.csv", "Last name,Company,Email\n"
     'Formula,"=HYPERLINK(""http://evil.test"",""x"")",formula@example.test\n'
     "Plain,Plain Ltd,plain@example.test\n")
xlsx("formula_cells.xlsx", [["Last name", "Company", "Email"], ["Formula", "=1+1", "f@example.test"],
                            ["Plain", "Plain Ltd", "plain@example.test"]])
# Deals closing on 3 December 2026, written three ways, and one impossible date.
text("three_date_formats.csv", "Deal name,Close date,Amount\n"
     "ISO,2026-12-03,\"1,200.50\"\n"
     "Day first,03/12/2026,\"¥12,000\"\n"
     "Slashes,2026/12/3,300\n"
     "Nonsense,31/31/2026,1\n")
xlsx("dates_and_numbers.xlsx", [["Deal name", "Close date", "Amount"], ["Excel date", dt.date(2026, 12, 3), 1200.5],
                                ["Excel serial", 46359, "12,000"]])
# Rows 2 and 4 are the same person; row 3 matches a lead already in the CRM (the test makes it).
text("duplicate_rows.csv", "Last name,Company,Email\n"
     "Twin,Twins Ltd,twin@example.test\n"
     "Existing,Old Ltd,existing@example.test\n"
     "Twin again,Twins Ltd,TWIN@example.test\n")
text("unknown_picklist.csv", "Last name,Status,Source\n"
     "Known,New,网站\n"
     "Unknown,Maybe,Web\n")
# Deals by name: the test locks "Won deal" with a rule that forbids updates by import.
text("locked_target.csv", "Deal name,Amount\n"
     "Won deal,999\n"
     "Open deal,500\n")
text("missing_required.csv", "First name,Company,Email\n"
     "Nameless,Acme,nameless@example.test\n")
# The marketer's case-study sheet, Chinese headers, for the Case Studies team module.
text("case_studies.csv", "标题,客户,截止日期,Brief\n"
     "Acme story,Acme,2026/12/3,How Acme went live\n"
     "星辰 story,北京星辰科技有限公司,03/12/2026,星辰的故事\n", bom=True)
# The demo marketer's own case-study workbook (tests/imports/test_case_study_story.py): headers in
# Chinese and English, real Excel dates, a multi-line brief, an empty cell, and a column of
# private notes that is not imported.
CASE_STUDY_SHEET = [
    ["标题", "Customer", "截止日期", "Format", "简介", "内部备注"],
    ["星辰科技：三周上线 CRM", "北京星辰科技有限公司", dt.date(2026, 12, 18), "Video",
     "客户访谈 + 上线数据。\n需要销售确认可以引用。", "Sally 提的需求"],
    ["Acme Corporation: quotes 40% faster", "Acme Corporation", dt.date(2027, 1, 15), "PDF",
     "Interview the CFO; numbers from Q3.", ""],
    ["华夏物流 case study", "华夏物流集团", dt.date(2027, 2, 1), "Web page", "Bilingual page, 中英文双语。", "draft"],
    ["Globex renewal story", "Globex Inc", dt.date(2026, 12, 31), "PDF", None, "no brief yet"],
]
xlsx("case_studies_marketing.xlsx", CASE_STUDY_SHEET)
