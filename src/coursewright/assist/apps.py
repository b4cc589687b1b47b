from django.apps import AppConfig


class AssistConfig(AppConfig):
    name = "coursewright.assist"
    label = "assist"
    verbose_name = "AI tutor and grading"

    def ready(self) -> None:
        from coursewright.assist.retention import register

        register()
