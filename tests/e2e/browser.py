"""Steps the browser stories share."""
from __future__ import annotations


def login(page, base: str, username: str, password: str) -> None:
    """Log in through the login page and wait until it has been left."""
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button:has-text('Log in')")
    page.wait_for_url(lambda url: "/login/" not in url)
