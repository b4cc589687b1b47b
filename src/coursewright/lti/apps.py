from typing import Any

from django.apps import AppConfig


class LtiConfig(AppConfig):
    name = "coursewright.lti"
    label = "lti"
    verbose_name = "LTI 1.3: platform registrations, launches, deep linking, grades"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from coursewright.delivery.models import LaunchProgress
        from coursewright.lti.privacy import register

        register()
        post_save.connect(_progress_saved, sender=LaunchProgress,
                          dispatch_uid="lti_grade_on_progress")


def _progress_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A launch's progress was filed (``delivery.reports``): its grade may be due."""
    from coursewright.lti.grades import mark_pending

    mark_pending(instance)
