"""The PostgreSQL side of team mode: group roles, privileges, row-level security and the rule
triggers that ``annotator team init`` installs (docs/adr/0023).

The database enforces the rules so that a modified client or a plain ``psql`` session cannot get
round them. Coarse rules are privileges (only admins write reason codes and project settings or
delete rows); per-row rules that compare the old and the new row (status changes, four eyes,
someone else's claim, assignments, soft deletes) are ``BEFORE``/statement triggers, because they
can name the rule in their error; reviews and work claims also carry row-level security policies
(who may insert which verdict, who may touch which claim). Every refusal is SQLSTATE 42501 with
a message that starts with ``team rule:``, which storage turns into one line.

Roles: ``annotator`` < ``reviewer`` < ``admin`` (each later one is a member of the one before).
Statements are idempotent: ``team init`` may run again after an upgrade.
"""

from __future__ import annotations

from annotator.core.status import ANNOTATOR_WORK

ROLES = ("annotator", "reviewer", "admin")
RULE_PREFIX = "team rule: "
CLAIM_TTL_SETTING = "claim_ttl_s"
DEFAULT_CLAIM_TTL_S = 300  # five missed one-minute heartbeats: the client is gone

_CONTENT_TABLES = ("turns", "masks", "flags")


def _raise(message_sql: str) -> str:
    return f"RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = '{RULE_PREFIX}' || {message_sql};"


def init_statements(database: str) -> list[str]:
    """Everything ``team init`` runs, in order, for the database named ``database``."""
    db = '"' + database.replace('"', '""') + '"'
    out = [
        "DO $$ BEGIN "
        + " ".join(
            f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{r}') "
            f"THEN CREATE ROLE {r} NOLOGIN; END IF;"
            for r in ROLES
        )
        + " END $$",
        "GRANT annotator TO reviewer",
        # Admins hand out the annotator and reviewer roles; only the owner makes admins.
        "GRANT reviewer TO admin WITH ADMIN OPTION",
        "GRANT annotator TO admin WITH ADMIN OPTION",
        f"GRANT CONNECT ON DATABASE {db} TO annotator",
        "GRANT USAGE ON SCHEMA public TO annotator",
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO annotator",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO annotator",
        "GRANT INSERT, UPDATE ON conversations, images TO annotator",
        "GRANT INSERT, UPDATE, DELETE ON turns, masks, flags, proposals, proposal_masks, "
        "claims, work_claims, judgements, pairwise_judgements TO annotator",
        "GRANT INSERT ON history TO annotator",
        # Reviews follow their turn when turns move or go (annotators edit turns); who may
        # insert which verdict is the policies' business below.
        "GRANT INSERT, DELETE ON reviews TO annotator",
        "GRANT UPDATE (turn_index, resolved_by, resolved_at) ON reviews TO annotator",
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO admin",
        "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM admin",
        # -- helpers -------------------------------------------------------------------------
        "CREATE OR REPLACE FUNCTION annotator_claim_ttl() RETURNS interval LANGUAGE sql STABLE "
        "AS $$ SELECT make_interval(secs => COALESCE((SELECT (value #>> '{}')::float "
        f"FROM project_settings WHERE key = '{CLAIM_TTL_SETTING}'), {DEFAULT_CLAIM_TTL_S})) $$",
        "CREATE OR REPLACE FUNCTION annotator_claim_holder(cid integer) RETURNS text "
        "LANGUAGE sql STABLE AS $$ SELECT holder || ' since ' || "
        "to_char(claimed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC' "
        "FROM work_claims WHERE conversation_id = cid "
        "AND heartbeat_at > now() - annotator_claim_ttl() AND holder <> current_user $$",
        "CREATE OR REPLACE FUNCTION annotator_four_eyes(cid integer) RETURNS boolean "
        "LANGUAGE sql STABLE AS $$ SELECT NOT EXISTS (SELECT 1 FROM conversations "
        "WHERE id = cid AND last_editor = current_user) $$",
        # -- records -------------------------------------------------------------------------
        # An edit is a change of revision, focus or status. A record an annotator may edit
        # (a draft, or one they hold) stamps the transaction into ``edit_txid``: the later
        # statements of the same save (its turns and masks, the summary columns) pass even
        # though the save itself moved the record on (a draft submitted for review). Only this
        # trigger writes the stamp, so a client cannot set it.
        "CREATE OR REPLACE FUNCTION annotator_team_conversation_rules() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ DECLARE other text; may_edit boolean; BEGIN "
        "IF NOT pg_has_role(current_user, 'annotator', 'MEMBER') THEN "
        + _raise("current_user || ' has no team role (annotator, reviewer or admin)'")
        + " END IF; "
        "IF TG_OP = 'INSERT' THEN "
        "IF NEW.status <> 'draft' AND NOT pg_has_role(current_user, 'admin', 'MEMBER') THEN "
        + _raise("'only admins add records that are not drafts'")
        + " END IF; NEW.edit_txid := txid_current(); RETURN NEW; END IF; "
        "IF pg_has_role(current_user, 'admin', 'MEMBER') THEN other := NULL; "
        "ELSE other := annotator_claim_holder(OLD.id); END IF; "
        "IF other IS NOT NULL THEN "
        + _raise("'record ' || OLD.id || ' is being edited by ' || other")
        + " END IF; "
        "IF NEW.deleted_at IS DISTINCT FROM OLD.deleted_at "
        "AND NOT pg_has_role(current_user, 'admin', 'MEMBER') THEN "
        + _raise("'only admins delete or restore records'")
        + " END IF; "
        "IF NEW.assignee IS DISTINCT FROM OLD.assignee "
        "AND NOT pg_has_role(current_user, 'admin', 'MEMBER') THEN "
        + _raise("'only admins assign records'")
        + " END IF; "
        "IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('approved', 'rejected') THEN "
        "IF NOT pg_has_role(current_user, 'reviewer', 'MEMBER') THEN "
        + _raise("'only reviewers approve or reject records'")
        + " END IF; IF OLD.last_editor = current_user THEN "
        + _raise(
            "'four eyes: you made the last edit of record ' || OLD.id || "
            "'; another reviewer must judge it'"
        )
        + " END IF; END IF; "
        "may_edit := pg_has_role(current_user, 'reviewer', 'MEMBER') OR OLD.status = 'draft' "
        "OR OLD.edit_txid = txid_current() OR EXISTS (SELECT 1 FROM work_claims "
        "WHERE conversation_id = OLD.id AND holder = current_user); "
        "IF NOT may_edit AND (NEW.revision IS DISTINCT FROM OLD.revision "
        "OR NEW.focus IS DISTINCT FROM OLD.focus OR NEW.status IS DISTINCT FROM OLD.status) THEN "
        + _raise(
            "'annotators edit drafts and the records they claimed (Next record); record ' "
            "|| OLD.id || ' is ' || OLD.status"
        )
        + " END IF; "
        "NEW.edit_txid := CASE WHEN may_edit THEN txid_current() ELSE OLD.edit_txid END; "
        "RETURN NEW; END $$",
        "DROP TRIGGER IF EXISTS annotator_team_conversation_rules ON conversations",
        "CREATE TRIGGER annotator_team_conversation_rules BEFORE INSERT OR UPDATE ON conversations "
        "FOR EACH ROW EXECUTE FUNCTION annotator_team_conversation_rules()",
        # -- content rows: the same claim and status rules, checked once per statement -------
        "CREATE OR REPLACE FUNCTION annotator_team_content_rules() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ DECLARE bad record; BEGIN "
        "IF pg_has_role(current_user, 'admin', 'MEMBER') THEN RETURN NULL; END IF; "
        "SELECT c.id, c.status, annotator_claim_holder(c.id) AS other INTO bad "
        "FROM conversations c WHERE c.id IN (SELECT conversation_id FROM changed) AND ("
        "annotator_claim_holder(c.id) IS NOT NULL OR (c.status <> 'draft' "
        "AND NOT pg_has_role(current_user, 'reviewer', 'MEMBER') "
        "AND c.edit_txid IS DISTINCT FROM txid_current() "
        "AND NOT EXISTS (SELECT 1 FROM work_claims w WHERE w.conversation_id = c.id "
        "AND w.holder = current_user))) LIMIT 1; "
        "IF FOUND AND bad.other IS NOT NULL THEN "
        + _raise("'record ' || bad.id || ' is being edited by ' || bad.other")
        + " ELSIF FOUND THEN "
        + _raise(
            "'annotators edit drafts and the records they claimed (Next record); record ' "
            "|| bad.id || ' is ' || bad.status"
        )
        + " END IF; RETURN NULL; END $$",
    ]
    for table in _CONTENT_TABLES:
        for event, side in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            name = f"annotator_team_{table}_{event.lower()}_rules"
            out += [
                f"DROP TRIGGER IF EXISTS {name} ON {table}",
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {side} TABLE AS "
                "changed FOR EACH STATEMENT EXECUTE FUNCTION annotator_team_content_rules()",
            ]
    out += _policies()
    return out


# Annotators hold the records they work on (or what an admin handed them); reviewers any.
_MAY_HOLD = (
    "WITH CHECK (holder = current_user AND (pg_has_role(current_user, 'reviewer', 'MEMBER') "
    "OR (role = 'annotator' AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = "
    "conversation_id AND (c.status IN ("
    + ", ".join(f"'{s.value}'" for s in ANNOTATOR_WORK)
    + ") OR c.assignee = current_user)))))"
)


def _policies() -> list[str]:
    policies = {
        "reviews": [
            ("reviews_read", "FOR SELECT", "USING (true)"),
            # Anyone on the team comments; verdicts are for reviewers, never on their own edit.
            ("reviews_comment", "FOR INSERT TO annotator", "WITH CHECK (decision = 'comment')"),
            (
                "reviews_verdict",
                "FOR INSERT TO reviewer",
                "WITH CHECK (annotator_four_eyes(conversation_id))",
            ),
            ("reviews_follow_turn", "FOR UPDATE TO annotator", "USING (true) WITH CHECK (true)"),
            # Removing a turn removes its verdicts; a record's verdicts stay.
            ("reviews_drop_turn", "FOR DELETE TO annotator", "USING (turn_index IS NOT NULL)"),
            ("reviews_admin", "FOR ALL TO admin", "USING (true) WITH CHECK (true)"),
        ],
        "work_claims": [
            ("claims_read", "FOR SELECT", "USING (true)"),
            (
                "claims_take",
                "FOR INSERT TO annotator",
                _MAY_HOLD,
            ),
            (
                "claims_own",
                "FOR UPDATE TO annotator",
                "USING (holder = current_user OR heartbeat_at <= now() - annotator_claim_ttl()) "
                + _MAY_HOLD,
            ),
            (
                "claims_release",
                "FOR DELETE TO annotator",
                "USING (holder = current_user OR heartbeat_at <= now() - annotator_claim_ttl())",
            ),
            ("claims_admin", "FOR ALL TO admin", "USING (true) WITH CHECK (true)"),
        ],
    }
    out: list[str] = []
    for table, items in policies.items():
        out.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        for name, scope, rule in items:
            out.append(f"DROP POLICY IF EXISTS {name} ON {table}")
            out.append(f"CREATE POLICY {name} ON {table} {scope} {rule}")
    return out
