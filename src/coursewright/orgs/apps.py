from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "coursewright.orgs"
    label = "orgs"
