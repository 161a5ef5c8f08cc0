"""Steps the browser stories share."""
from __future__ import annotations

LANGUAGES = ("en", "zh-hans")


def tr(language: str, msgid: str, context: str | None = None, *, plural: str | None = None, n: int = 1,
       **values) -> str:
    """What a person reading `language` sees for the interface string `msgid` (`plural` and `n`
    for a counted one; `values` filled in). A story run in Chinese fails here when the catalogue
    has no Chinese for it: the screen would show the English."""
    from django.utils import translation

    with translation.override(language):
        if plural is not None:
            text = (translation.npgettext(context, msgid, plural, n) if context
                    else translation.ngettext(msgid, plural, n))
        else:
            text = translation.pgettext(context, msgid) if context else translation.gettext(msgid)
    if language != "en":
        assert text not in (msgid, plural), f"no {language} translation for {msgid!r}"
    return text % values if values else text


def switch_language(page, language: str) -> None:
    """Choose `language` in the language selector of the page shown (the user menu's, once
    logged in, which saves the choice on the user), unless the page is in it already."""
    from playwright.sync_api import expect

    html = page.locator("html")
    if html.get_attribute("lang") == language:
        return
    menu = page.locator("[data-testid=user-menu]")
    if menu.count():
        menu.click()
    form = page.locator("form:has(select[name=language])")
    form.locator("select[name=language]").select_option(language)
    form.locator("button").click()
    expect(html).to_have_attribute("lang", language)


def login(page, base: str, username: str, password: str, language: str | None = None) -> None:
    """Log in through the login page and wait until it has been left; with `language`, then
    switch the interface to it as the person would (a no-op once it is theirs)."""
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    # The button's label depends on the language the login page is shown in.
    page.click("form:has(input[name=password]) button")
    page.wait_for_url(lambda url: "/login/" not in url)
    if language:
        switch_language(page, language)


def choose(page, select: str, typed: str, option: str) -> None:
    """Pick `option` in the type-ahead that replaced the <select> matched by `select`, by typing
    `typed` into it as a person would."""
    wrapper = page.locator(select).locator("xpath=following-sibling::div[contains(@class, 'ts-wrapper')][1]")
    wrapper.locator(".ts-control").click()
    wrapper.locator(".ts-control input").press_sequentially(typed)
    wrapper.locator(".ts-dropdown .option", has_text=option).first.click()


def expect_labels(scope, language: str, *msgids: str) -> None:
    """The screen (`scope`, a locator) shows these interface labels in `language`; in Chinese,
    not their English."""
    from playwright.sync_api import expect

    for msgid in msgids:
        expect(scope).to_contain_text(tr(language, msgid))
        if language != "en":
            expect(scope).not_to_contain_text(msgid)
