from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "coursewright.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks: course events to partners' URLs"

    def ready(self) -> None:
        from coursewright.webhooks.privacy import register

        register()
