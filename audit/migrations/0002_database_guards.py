"""What PostgreSQL itself guarantees about the audit trail.

1. Append-only: UPDATE is always refused. DELETE and TRUNCATE are refused
   unless the session has run ``SET LOCAL audit.prune = 'on'``: the retention
   task that prunes old events (and records its own run as an event), or a
   test suite emptying tables.
2. audit_append(): number, stamp, hash and insert an event in one round trip.
   Python serialises the event's content (audit.chain.content); the function
   takes the append lock, reads the head, and computes

       sha256(prev_hash || '\\n' || sequence || '\\n' || UTC time || '\\n' || content)

   exactly as audit.chain.link_hash does, so the verifier recomputes it in
   Python. The lock is transaction-scoped: concurrent writers queue, and each
   sees the head the previous one committed (every statement in a volatile
   PL/pgSQL function takes a fresh snapshot).
"""

from django.db import migrations

TRIGGERS = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') AND current_setting('audit.prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();

CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
"""

APPEND = """
CREATE OR REPLACE FUNCTION audit_append(
    p_content bytea,
    p_actor_id bigint,
    p_actor_label text,
    p_request_id text,
    p_action text,
    p_outcome text,
    p_target_type text,
    p_target_id text,
    p_target_repr text,
    p_category text,
    p_backend text,
    p_before jsonb,
    p_after jsonb,
    p_details jsonb,
    p_message text
) RETURNS TABLE (sequence bigint, occurred_at timestamptz, prev_hash text, hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_sequence bigint;
    v_prev text;
    v_at timestamptz;
    v_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(92158509);
    SELECT e.sequence, e.hash INTO v_sequence, v_prev
        FROM audit_auditevent e ORDER BY e.sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        v_sequence := 0;
        v_prev := repeat('0', 64);
    END IF;
    v_sequence := v_sequence + 1;
    v_at := clock_timestamp();
    v_hash := encode(sha256(
        convert_to(
            v_prev || E'\\n' || v_sequence::text || E'\\n'
            || to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || E'\\n',
            'UTF8'
        ) || p_content
    ), 'hex');
    INSERT INTO audit_auditevent (
        sequence, occurred_at, actor_id, actor_label, request_id, action, outcome,
        target_type, target_id, target_repr, category, backend, before, after, details,
        message, prev_hash, hash
    ) VALUES (
        v_sequence, v_at, p_actor_id, p_actor_label, p_request_id, p_action, p_outcome,
        p_target_type, p_target_id, p_target_repr, p_category, p_backend, p_before, p_after,
        p_details, p_message, v_prev, v_hash
    );
    RETURN QUERY SELECT v_sequence, v_at, v_prev, v_hash;
END;
$$;
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_append_only();
DROP FUNCTION IF EXISTS audit_append(
    bytea, bigint, text, text, text, text, text, text, text, text, text, jsonb, jsonb, jsonb, text
);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGERS, params=None)
        schema_editor.execute(APPEND, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
