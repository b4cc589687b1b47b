"""The ``coursewright`` command: Django's manage.py plus our verbs.

    coursewright serve [--host H --port N]   web server + job consumer
    coursewright demo                        demo organisation and people
    coursewright generate FILE --export scorm2004 -o OUT.zip --approve-as EMAIL
    coursewright package COURSE_ID --org SLUG --format scorm12 -o OUT.zip
    coursewright delete course|org ...       deletion with a receipt
    coursewright retention show|purge        retention rules
    coursewright backup | restore PATH       encrypted backups (docs/backups.md)
    coursewright keys backup|rotate-master   the keyring and master keys
    coursewright audit verify|checkpoint     the tamper-evident audit log
    coursewright export org SLUG -o OUT.zip  an organisation's data, portable
    coursewright migrate | createsuperuser | ...   (any Django command)
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coursewright.settings")
    args = list(sys.argv if argv is None else argv)
    if len(args) < 2:
        args.append("help")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(args)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"coursewright: configuration error: {exc}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
