"""Names and IP addresses leave the trail after a time: the chain's second format.

A row's ``pseudonyms`` maps each personal value it holds (the actor's name, the target's,
a sign-in's IP address: see audit.chain.PSEUDONYMS) to its keyed hash, and the row's hash
covers that keyed hash in the value's place. Rows written before this have none: their
hash covers their clear values, so those stay, and verify exactly as before.

On PostgreSQL:

1. audit_append() takes the keyed hashes and stores them with the row (the content it is
   given is already the second format's, hashed by Python as before).
2. The append-only trigger lets one UPDATE through: replacing personal values named in
   the row's ``pseudonyms`` by a removal marker (exactly "[removed after 400 days]" or
   "[removed: account erased]"; a marker once written stays), every other column as it
   was, byte for byte. Anything else is refused as before (0007), and so is any change to a
   row without ``pseudonyms``, whose hash covers its clear values. Whoever could make that
   change could only remove what the chain already holds by its keyed hash.
"""

from django.db import migrations, models

#: The marker a removed value is replaced by: audit.chain.REMOVED.
MARKER = r"'^\[removed( after [0-9]{1,6} days?|: account erased)\]$'"

APPEND = """
DROP FUNCTION IF EXISTS audit_append(
    bytea, bigint, text, text, text, text, text, text, text, text, text, jsonb, jsonb, jsonb, text
);
CREATE FUNCTION audit_append(
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
    p_message text,
    p_pseudonyms jsonb
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
        message, pseudonyms, prev_hash, hash
    ) VALUES (
        v_sequence, v_at, p_actor_id, p_actor_label, p_request_id, p_action, p_outcome,
        p_target_type, p_target_id, p_target_repr, p_category, p_backend, p_before, p_after,
        p_details, p_message, p_pseudonyms, v_prev, v_hash
    );
    RETURN QUERY SELECT v_sequence, v_at, v_prev, v_hash;
END;
$$;
"""

GUARD = f"""
CREATE FUNCTION audit_is_removed(p_value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_typeof(p_value) = 'string' AND (p_value #>> '{{}}') ~ {MARKER}, false)
$$;

-- Whether n is o with only personal values replaced by removal markers.
CREATE FUNCTION audit_only_personal_values_removed(o audit_auditevent, n audit_auditevent)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_path text;
    v_key text;
BEGIN
    IF o.pseudonyms IS NULL OR n.pseudonyms IS DISTINCT FROM o.pseudonyms THEN
        RETURN false;
    END IF;
    FOR v_path IN SELECT jsonb_object_keys(o.pseudonyms) LOOP
        v_key := substr(v_path, strpos(v_path, '.') + 1);
        IF v_path = 'actor_label' THEN
            IF n.actor_label IS DISTINCT FROM o.actor_label AND (
                    NOT audit_is_removed(to_jsonb(n.actor_label))
                    OR audit_is_removed(to_jsonb(o.actor_label))) THEN
                RETURN false;
            END IF;
            o.actor_label := ''; n.actor_label := '';
        ELSIF v_path = 'target_repr' THEN
            IF n.target_repr IS DISTINCT FROM o.target_repr AND (
                    NOT audit_is_removed(to_jsonb(n.target_repr))
                    OR audit_is_removed(to_jsonb(o.target_repr))) THEN
                RETURN false;
            END IF;
            o.target_repr := ''; n.target_repr := '';
        ELSIF v_path LIKE 'details.%' AND jsonb_typeof(o.details) = 'object'
                AND jsonb_typeof(n.details) = 'object' THEN
            IF (n.details -> v_key) IS DISTINCT FROM (o.details -> v_key) AND (
                    NOT audit_is_removed(n.details -> v_key)
                    OR audit_is_removed(o.details -> v_key)) THEN
                RETURN false;
            END IF;
            o.details := o.details - v_key; n.details := n.details - v_key;
        ELSIF v_path LIKE 'before.%' AND jsonb_typeof(o.before) = 'object'
                AND jsonb_typeof(n.before) = 'object' THEN
            IF (n.before -> v_key) IS DISTINCT FROM (o.before -> v_key) AND (
                    NOT audit_is_removed(n.before -> v_key)
                    OR audit_is_removed(o.before -> v_key)) THEN
                RETURN false;
            END IF;
            o.before := o.before - v_key; n.before := n.before - v_key;
        ELSIF v_path LIKE 'after.%' AND jsonb_typeof(o.after) = 'object'
                AND jsonb_typeof(n.after) = 'object' THEN
            IF (n.after -> v_key) IS DISTINCT FROM (o.after -> v_key) AND (
                    NOT audit_is_removed(n.after -> v_key)
                    OR audit_is_removed(o.after -> v_key)) THEN
                RETURN false;
            END IF;
            o.after := o.after - v_key; n.after := n.after - v_key;
        END IF;
    END LOOP;
    -- As text: jsonb's numbers compare equal however written (1 and 1.0), their text not.
    RETURN to_jsonb(o)::text = to_jsonb(n)::text;
END;
$$;

CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF audit_only_personal_values_removed(OLD, NEW) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

# 0002's audit_append and 0007's trigger function, as they were.
UNDONE = """
DROP FUNCTION IF EXISTS audit_append(
    bytea, bigint, text, text, text, text, text, text, text, text, text, jsonb, jsonb, jsonb, text,
    jsonb
);
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP FUNCTION IF EXISTS audit_only_personal_values_removed(audit_auditevent, audit_auditevent);
DROP FUNCTION IF EXISTS audit_is_removed(jsonb);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND, params=None)
        schema_editor.execute(GUARD, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from importlib import import_module

        schema_editor.execute(UNDONE, params=None)
        schema_editor.execute(import_module("audit.migrations.0002_database_guards").APPEND)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_closed_guards")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="pseudonyms",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(forwards, backwards),
    ]
