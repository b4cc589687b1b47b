from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "coursewright.ai"
    label = "ai"
