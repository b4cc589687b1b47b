"""What the player page carries for learner AI: nothing unless a build switches it on."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from coursewright.courses.content import CourseContent
from coursewright.player.render import DATA_ELEMENT_ID, AssistConfig, render_index_html
from coursewright.publishing.packaging import PackageMeta
from tests.assist.conftest import course_content

META = PackageMeta(course_id="acme-1", version_number=1, approved_by="Rita",
                   approved_at=datetime(2026, 1, 1, tzinfo=UTC), published_at=None,
                   org_name="Acme")
ASSIST = AssistConfig(endpoint="https://cw.example/api/player/v1", token="cwa_" + "x" * 43,
                      tutor=True, grading=True)


def _data(page: str) -> dict[str, Any]:
    match = re.search(rf'<script type="application/json" id="{DATA_ELEMENT_ID}">(.*?)</script>',
                      page, re.DOTALL)
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def _page(content: dict[str, Any], assist: AssistConfig | None = None) -> str:
    return render_index_html(CourseContent.model_validate(content), fmt="html", meta=META,
                             images={}, assist=assist)


def test_a_course_without_learner_ai_is_unchanged() -> None:
    content = course_content()
    content["screens"][1]["blocks"] = [b for b in content["screens"][1]["blocks"]
                                       if b["type"] != "free_text"]
    page = _page(content)
    assert "cw-tutor" not in page
    data = _data(page)
    assert "assist" not in data
    assert "freeText" not in data


def test_free_text_without_grading_keeps_the_model_answer_for_self_check() -> None:
    page = _page(course_content())
    assert 'maxlength="500"' in page
    assert re.search(r'<p class="cw-ai-grading-note" id="b.ft1.ai" role="note" hidden>', page)
    assert "Report it with the report button and do not click." in page
    assert 'data-criterion="noclick" data-points="1"' in page
    data = _data(page)
    assert data["freeText"] == {"ft1": {"maxLength": 500, "maxScore": 3}}
    assert "ft1" not in data["questions"]  # not part of the local score
    assert "cw-tutor" not in page


def test_a_build_with_learner_ai_carries_endpoint_token_and_disclosure() -> None:
    page = _page(course_content(), ASSIST)
    data = _data(page)
    assert data["assist"] == {"endpoint": ASSIST.endpoint, "token": ASSIST.token,
                              "tutor": True, "grading": True}
    assert 'id="cw-tutor-toggle"' in page
    assert ("You are chatting with an AI assistant. Its answers come only from this course "
            "and may contain mistakes.") in page
    assert re.search(r'<textarea[^>]*id="cw-tutor-input"[^>]*disabled>', page)

    german = course_content()
    german["language"] = "de"
    page_de = _page(german, ASSIST)
    assert "Sie chatten mit einem KI-Assistenten." in page_de
