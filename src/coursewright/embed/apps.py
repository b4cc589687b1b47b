from django.apps import AppConfig


class EmbedConfig(AppConfig):
    name = "coursewright.embed"
    label = "embed"
    verbose_name = "Embed: partner tokens for embedded pages"
