from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "coursewright.privacy"
    label = "privacy"
