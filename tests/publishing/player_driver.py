"""Drive the learner player in a page or an iframe, as a learner would (mouse or keyboard)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from playwright.sync_api import Frame, Page

READY = "html[data-player-ready]"


def player_frame(page: Page) -> Frame:
    """The SCO iframe of a scorm_host_page, once the player has started."""
    handle = page.wait_for_selector("#sco")
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_selector(READY)
    return frame


def current_screen(target: Page | Frame) -> str:
    result: str = target.evaluate(
        "() => { const s = document.querySelector('.cw-screen:not([hidden])');"
        " return s ? (s.dataset.screenId || s.id) : ''; }"
    )
    return result


def answer(target: Page | Frame, question_id: str, choices: Sequence[str]) -> None:
    """Pick ``choices`` in question ``question_id`` with the mouse and check the answer."""
    form = target.locator(f'form[data-block-id="{question_id}"]')
    for choice in choices:
        form.locator(f'input[value="{choice}"]').click()
    form.locator(".cw-check").click()
    form.locator(".cw-feedback-head").wait_for()


def click_through(target: Page | Frame, answers: Mapping[str, Sequence[str]]) -> None:
    """From wherever the player is, answer each question on the way and reach the results."""
    for _ in range(100):
        if current_screen(target) == "cw-results":
            return
        screen = target.locator(".cw-screen:not([hidden])")
        for form in screen.locator("form.cw-question").all():
            qid = form.get_attribute("data-block-id")
            assert qid is not None
            if "is-answered" not in (form.get_attribute("class") or ""):
                answer(target, qid, answers[qid])
        target.locator("#cw-next").click()
    raise AssertionError("never reached the results screen")


def cmi(page: Page, fmt: str) -> dict[str, Any]:
    """The runtime's CMI data (``renderCMIToJSONObject()['cmi']``) of a scorm_host_page."""
    var = "API" if fmt == "scorm12" else "API_1484_11"
    data: dict[str, Any] = page.evaluate(f"() => window.{var}.renderCMIToJSONObject()")
    inner: dict[str, Any] = data.get("cmi", data)
    return inner


def active(target: Page | Frame) -> dict[str, Any]:
    """What has keyboard focus in ``target`` (tag, id, name, value, classes, text)."""
    result: dict[str, Any] = target.evaluate(
        """() => {
          const el = document.activeElement;
          if (!el || !document.hasFocus()) return {};
          return {tag: el.tagName.toLowerCase(), id: el.id || '', name: el.name || '',
                  value: el.value || '', cls: el.className || '', type: el.type || '',
                  text: (el.textContent || '').trim().slice(0, 80)};
        }"""
    )
    return result


def tab_to(page: Page, target: Page | Frame, want: Mapping[str, str], *, shift: bool = False,
           limit: int = 60) -> dict[str, Any]:
    """Press Tab (or Shift+Tab) until the focused element matches every item of ``want``."""
    key = "Shift+Tab" if shift else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        now = active(target)
        if now and all(want[k] in now.get(k, "") if k == "cls" else now.get(k) == want[k]
                       for k in want):
            return now
    raise AssertionError(f"{key} never reached {dict(want)}; focus is on {active(target)}")
