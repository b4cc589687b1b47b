"""A scripted "model" for the fake provider servers: answers coursewright's JSON schemas.

It behaves like a careful model would: study notes quote the first sentence of each
passage and cite its ref, the outline spreads the parts over the screens asked for,
screens restate their notes with the refs, rewrites keep placeholders. It recognises the
task by the JSON schema's top-level properties, so it works for every provider flavour.
Everything it writes is derived from the request, so tests can check what was sent.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.fake_providers import Call

_REF_LINE = re.compile(r"^\[(P\d+)\]\s*(.+)$")
_NOTE = re.compile(r"^- (.+?)(?: \[([P\d,]+)\])?$")
_SCREEN = re.compile(r"^## (S\d+): (.+)$")
_ITEM = re.compile(r"^<<(.+?)>>$")


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = re.search(r"^(.+?[.!?])(\s|$)", text)
    return (match.group(1) if match else text)[:300]


def _task(call: Call) -> str:
    props = set((call.json_schema or {}).get("properties", {}))
    for name, keys in (("map", {"summary", "points"}), ("outline", {"title", "screens",
                                                                     "description"}),
                       ("screens", {"screens"}), ("questions", {"questions"}),
                       ("texts", {"items"})):
        if props == keys:
            return name
    return "chat"


def respond(call: Call) -> str:
    user = call.last_user or ""
    system = call.system or ""
    task = _task(call)
    if task == "map":
        passages = [(m.group(1), m.group(2)) for line in user.splitlines()
                    if (m := _REF_LINE.match(line.strip()))]
        points = [{"text": _first_sentence(t), "refs": [r]} for r, t in passages[:14]]
        summary = points[0]["text"] if points else "Nothing."
        return json.dumps({"summary": summary, "points": points})
    if task == "outline":
        n = int(re.search(r"exactly (\d+) screens", system).group(1))  # type: ignore[union-attr]
        parts = re.findall(r"^(B\d+) \((.*?)\):", user, flags=re.M)
        screens: list[dict[str, Any]] = []
        for i in range(n):
            if len(parts) >= n:
                mine = [k for j, (k, _) in enumerate(parts) if j * n // len(parts) == i]
            else:  # fewer parts than screens: neighbouring screens share a part
                mine = [parts[i * len(parts) // n][0]] if parts else []
            title = next((s for k, s in parts if k in mine), f"Part {i + 1}")
            screens.append({"title": title.split(" > ")[-1] or f"Part {i + 1}",
                            "from": mine})
        return json.dumps({"title": "Scripted course", "description": "A course.",
                           "screens": screens})
    if task == "screens":
        out: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None
        for line in user.splitlines():
            if m := _SCREEN.match(line.strip()):
                current = {"key": m.group(1), "title": m.group(2), "paragraphs": [],
                           "callout": None, "question": None}
                out.append(current)
            elif current is not None and (m := _NOTE.match(line.strip())):
                refs = m.group(2).split(",") if m.group(2) else []
                current["paragraphs"].append({"markdown": m.group(1), "refs": refs})
                if current["question"] is None:
                    current["question"] = {
                        "type": "true_false", "prompt": m.group(1), "choices": [],
                        "answer": True, "explanation": m.group(1), "refs": refs}
            elif current is not None and (m := _REF_LINE.match(line.strip())):
                current["paragraphs"].append({"markdown": _first_sentence(m.group(2)),
                                              "refs": [m.group(1)]})
        for screen in out:
            if not screen["paragraphs"]:
                screen["paragraphs"].append({"markdown": f"About {screen['title']}.",
                                             "refs": []})
        return json.dumps({"screens": out})
    if task == "questions":
        passages = [(m.group(1), m.group(2)) for line in user.splitlines()
                    if (m := _REF_LINE.match(line.strip()))]
        ref, text = passages[0] if passages else ("", user.splitlines()[0])
        return json.dumps({"questions": [{
            "type": "multiple_choice", "prompt": f"Which is stated? {_first_sentence(text)}",
            "choices": [{"text": "Yes, as stated", "correct": True},
                        {"text": "No", "correct": False}],
            "answer": False, "explanation": _first_sentence(text),
            "refs": [ref] if ref else []}]})
    if task == "texts":
        items: list[dict[str, str]] = []
        key: str | None = None
        lines: list[str] = []
        for line in [*user.splitlines(), "<<END>>"]:
            if m := _ITEM.match(line.strip()):
                if key is not None:
                    items.append({"key": key, "text": _rewrite(system, "\n".join(lines))})
                key, lines = m.group(1), []
            else:
                lines.append(line)
        return json.dumps({"items": items})
    return "ok"


def _rewrite(system: str, text: str) -> str:
    text = text.strip()
    if system.startswith("Translate"):
        target = re.search(r"into (\w+)", system).group(1)  # type: ignore[union-attr]
        return f"{text} ({target})"
    return f"Simply put: {text}"
