from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "coursewright.web"
    label = "web"
