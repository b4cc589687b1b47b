from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "coursewright.ops"
    label = "ops"
    verbose_name = "Operations (command-line verbs)"
