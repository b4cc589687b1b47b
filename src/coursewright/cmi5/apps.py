from django.apps import AppConfig


class Cmi5Config(AppConfig):
    name = "coursewright.cmi5"
    label = "cmi5"
    verbose_name = "cmi5 launching system"
