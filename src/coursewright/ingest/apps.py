from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "coursewright.ingest"
    label = "ingest"
