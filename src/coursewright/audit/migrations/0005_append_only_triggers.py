"""On PostgreSQL, the database itself keeps the audit log append-only.

- ``audit_auditevent``: UPDATE refused; DELETE refused except rows covered by a recorded
  prune while this transaction has ``coursewright.audit_prune = 'on'`` (only
  ``audit.retention`` sets it, with ``SET LOCAL`` semantics); TRUNCATE refused.
- ``audit_auditcheckpoint`` and ``audit_auditprune``: UPDATE, DELETE, TRUNCATE refused.
- ``audit_auditchainhead``: DELETE and TRUNCATE refused (appends update it).

TRUNCATE is let through only when the session has ``coursewright.audit_allow_truncate =
'on'``: test runs empty every table with TRUNCATE between transactional tests, and turn
it on for their connections. Nothing in the application sets it.

The table owner can still drop these triggers; what they guard against is the
application itself (a bug, an injected statement). The hash chain and the signed
checkpoints are what make tampering by anyone *detectable*.
"""

from django.db import migrations

INSTALL = r"""
CREATE OR REPLACE FUNCTION coursewright_audit_refuse() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION coursewright_audit_delete() RETURNS trigger AS $$
BEGIN
    IF current_setting('coursewright.audit_prune', true) = 'on'
       AND OLD.seq <= (SELECT coalesce(max(last_seq), 0) FROM audit_auditprune) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: DELETE of seq % is refused (only a '
                    'prune behind a signed checkpoint may delete)', OLD.seq
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION coursewright_audit_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('coursewright.audit_allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: TRUNCATE of % is refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION coursewright_audit_refuse();
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION coursewright_audit_delete();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION coursewright_audit_truncate();

CREATE TRIGGER audit_checkpoint_no_change BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION coursewright_audit_refuse();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION coursewright_audit_truncate();

CREATE TRIGGER audit_prune_no_change BEFORE UPDATE OR DELETE ON audit_auditprune
    FOR EACH ROW EXECUTE FUNCTION coursewright_audit_refuse();
CREATE TRIGGER audit_prune_no_truncate BEFORE TRUNCATE ON audit_auditprune
    FOR EACH STATEMENT EXECUTE FUNCTION coursewright_audit_truncate();

CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION coursewright_audit_refuse();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION coursewright_audit_truncate();
"""

UNINSTALL = r"""
DROP TRIGGER IF EXISTS audit_event_no_update ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_delete ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_checkpoint_no_change ON audit_auditcheckpoint;
DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_auditcheckpoint;
DROP TRIGGER IF EXISTS audit_prune_no_change ON audit_auditprune;
DROP TRIGGER IF EXISTS audit_prune_no_truncate ON audit_auditprune;
DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_auditchainhead;
DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_auditchainhead;
DROP FUNCTION IF EXISTS coursewright_audit_refuse();
DROP FUNCTION IF EXISTS coursewright_audit_delete();
DROP FUNCTION IF EXISTS coursewright_audit_truncate();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0004_chain_finalise'),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
