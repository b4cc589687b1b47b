from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "coursewright.tracking"
    label = "tracking"
    verbose_name = "Tracking (xAPI LRS, cmi5, completion records)"
