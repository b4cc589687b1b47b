from __future__ import annotations

from django.db import models


class ExportFormat(models.TextChoices):
    SCORM2004 = "scorm2004", "SCORM 2004 4th edition"
    SCORM12 = "scorm12", "SCORM 1.2"
    HTML = "html", "Plain HTML"
    CMI5 = "cmi5", "cmi5"
    XAPI = "xapi", "xAPI (TinCan)"


class Export(models.Model):
    """A built package. Builds are reproducible, so one per (version, format) suffices."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(
        "courses.CourseVersion", on_delete=models.CASCADE, related_name="exports"
    )
    format = models.CharField(max_length=10, choices=ExportFormat.choices)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    storage_path = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "format"], name="one_export_per_format")
        ]

    def __str__(self) -> str:
        return f"{self.version} {self.format}"
