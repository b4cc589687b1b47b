from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "coursewright.delivery"
    label = "delivery"
    verbose_name = "Delivery: deployments, licenses, launches"
