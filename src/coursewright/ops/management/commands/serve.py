"""Serve the platform: granian (WSGI) for the web, plus the huey job consumer.

The consumer runs as a child process so a crash in a job can never take the web server
down; when the server stops, the consumer is stopped too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Serve the web platform and run the background job consumer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
        parser.add_argument("--workers", type=int, default=1, help="web worker processes (1)")
        threads = (os.cpu_count() or 1) * 2 + 1  # granian's advice for WSGI
        parser.add_argument("--threads", type=int, default=threads,
                            help=f"threads per web worker ({threads}: 2 x cores + 1)")
        parser.add_argument("--no-jobs", action="store_true",
                            help="do not start the job consumer (run one elsewhere)")

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"]
        if not 1 <= port <= 65535:
            raise CommandError(f"--port must be between 1 and 65535, got {port}")
        if options["workers"] < 1 or options["threads"] < 1:
            raise CommandError("--workers and --threads must be at least 1")
        from granian.constants import Interfaces
        from granian.server import Server

        os.environ["COURSEWRIGHT_VAR_DIR"] = str(settings.VAR_DIR)  # workers share one state dir
        call_command("collectstatic", interactive=False, verbosity=0)
        consumer = None
        if not options["no_jobs"]:
            consumer = subprocess.Popen(  # our own interpreter and module; no shell
                [sys.executable, "-m", "coursewright.cli", "run_huey", "--quiet"],
                env=os.environ.copy())
        self.stdout.write(
            f"coursewright serving on http://{options['host']}:{port} "
            f"(state in {settings.VAR_DIR}; jobs {'off' if consumer is None else 'on'})")
        try:
            Server(
                "coursewright.wsgi:application",
                address=options["host"],
                port=port,
                interface=Interfaces.WSGI,
                workers=options["workers"],
                blocking_threads=options["threads"],
            ).serve()
        finally:
            if consumer is not None and consumer.poll() is None:
                consumer.send_signal(signal.SIGTERM)
                try:
                    consumer.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    consumer.kill()
