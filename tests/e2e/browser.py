"""Steps the browser stories share."""
from __future__ import annotations


def login(page, base: str, username: str, password: str) -> None:
    """Log in through the login page and wait until it has been left."""
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button:has-text('Log in')")
    page.wait_for_url(lambda url: "/login/" not in url)


def choose(page, select: str, typed: str, option: str) -> None:
    """Pick `option` in the type-ahead that replaced the <select> matched by `select`, by typing
    `typed` into it as a person would."""
    wrapper = page.locator(select).locator("xpath=following-sibling::div[contains(@class, 'ts-wrapper')][1]")
    wrapper.locator(".ts-control").click()
    wrapper.locator(".ts-control input").press_sequentially(typed)
    wrapper.locator(".ts-dropdown .option", has_text=option).first.click()
