"""PostgreSQL refuses an event numbered below 1.

The chain starts at #1 (audit_append numbers from the head), so a row below
it can only be one inserted behind the application's back. The append-only
trigger does not cover INSERT; this CHECK does. It is NOT VALID: it binds
every row inserted from now on, and a row already there does not stop the
upgrade (verification reports it, since it reads from the lowest sequence).
SQLite has no such guard; verification is what catches a row there.
"""

from django.db import migrations

ADD = """
ALTER TABLE audit_auditevent
    ADD CONSTRAINT audit_auditevent_sequence_positive CHECK (sequence > 0) NOT VALID;
"""

DROP = """
ALTER TABLE audit_auditevent DROP CONSTRAINT IF EXISTS audit_auditevent_sequence_positive;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ADD, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_action_choices_in_code")]

    operations = [migrations.RunPython(forwards, backwards)]
