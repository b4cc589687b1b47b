from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "coursewright.publishing"
    label = "publishing"
