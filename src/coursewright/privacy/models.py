from __future__ import annotations

from django.db import models


class Category(models.TextChoices):
    UPLOADS = "uploads", "Uploaded documents (original files)"
    EXTRACTED_TEXT = "extracted_text", "Extracted text and source passages"
    DRAFTS = "drafts", "Draft course versions"
    LEARNER_RECORDS = "learner_records", "Learner records"
    LAUNCH_LOGS = "launch_logs", "Launch and error logs"
    AI_LEDGER = "ai_ledger", "AI ledger"
    AUDIT_LOG = "audit_log", "Audit log"


class RetentionRule(models.Model):
    """Keep an organisation's data of one category for at most ``keep_days`` days
    (no rule: kept until deleted)."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE,
                            related_name="retention_rules")
    category = models.CharField(max_length=20, choices=Category.choices)
    keep_days = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "category"],
                                               name="one_rule_per_category")]

    def __str__(self) -> str:
        return f"{self.category}: {self.keep_days} days"
