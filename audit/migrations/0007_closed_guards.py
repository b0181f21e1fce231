"""PostgreSQL refuses every UPDATE, DELETE and TRUNCATE of the events and of the checkpoints.

0002 let a session that ran ``SET LOCAL audit.prune = 'on'`` delete and truncate events:
a door for a retention task that was never written, open to anyone with the application's
credentials, which wiped the trail and its checkpoints leaving nothing to verify against.
The events' trigger function loses it, and the checkpoints get the same guard: a signed
checkpoint whose row can be deleted proves nothing once it is gone. Only the tables' owner
can still get past them (``ALTER TABLE ... DISABLE TRIGGER``); verification then reports
what went (checkpoint rows the trail records, events cut off its end, an emptied trail).
SQLite has no such guards, as for the events; verification is what catches changes there.
"""

from django.db import migrations

CLOSED = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION audit_checkpoint_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit checkpoints are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_checkpoint_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_append_only();

CREATE TRIGGER audit_checkpoint_no_truncate
    BEFORE TRUNCATE ON audit_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoint_append_only();
"""

REOPENED = """
DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_auditcheckpoint;
DROP TRIGGER IF EXISTS audit_checkpoint_no_update_delete ON audit_auditcheckpoint;
DROP FUNCTION IF EXISTS audit_checkpoint_append_only();

CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') AND current_setting('audit.prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CLOSED, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REOPENED, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_filter_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
