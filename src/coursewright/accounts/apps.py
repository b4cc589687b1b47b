from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "coursewright.accounts"
    label = "accounts"
