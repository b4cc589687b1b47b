from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "coursewright.audit"
    label = "audit"
