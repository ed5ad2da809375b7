"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
        sa.UniqueConstraint("kind", "period", name="uq_exports_kind_period"),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("operation_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_transactions_operation_key"), ["operation_key"], unique=False
        )

    op.create_table(
        "operations",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_operations")),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=100), nullable=False),
        sa.Column("risk_rating", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("external_id", name=op.f("uq_partners_external_id")),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
    )
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_key", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("enterprise_id", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("org_key", name=op.f("uq_workspaces_org_key")),
    )
    op.create_table(
        "lenders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("enterprise_id", sa.String(length=32), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column(
            "notify_mode",
            sa.Enum(
                "as_it_happens",
                "daily",
                "weekly",
                "off",
                name="notify_mode",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("work_start_minute", sa.Integer(), nullable=False),
        sa.Column("work_end_minute", sa.Integer(), nullable=False),
        sa.Column("work_days", sa.Integer(), nullable=False),
        sa.Column("autolend", sa.Boolean(), nullable=False),
        sa.Column("autolend_country", sa.String(length=100), nullable=True),
        sa.Column("autolend_sector", sa.String(length=100), nullable=True),
        sa.Column("relend_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "work_start_minute < work_end_minute", name=op.f("ck_lenders_working_hours")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_lenders_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lenders")),
        sa.UniqueConstraint("workspace_id", "slack_user_id", name="uq_lenders_workspace_user"),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("borrower", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("country", sa.String(length=100), nullable=False),
        sa.Column("region", sa.String(length=200), nullable=True),
        sa.Column("sector", sa.String(length=100), nullable=False),
        sa.Column("activity", sa.String(length=100), nullable=False),
        sa.Column("borrower_genders", sa.String(length=500), nullable=False),
        sa.Column("borrower_count", sa.Integer(), nullable=False),
        sa.Column("women_count", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("funded", sa.BigInteger(), nullable=False),
        sa.Column("repaid", sa.BigInteger(), nullable=False),
        sa.Column("lost", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column(
            "repayment_interval",
            sa.Enum(
                "monthly",
                "irregular",
                "bullet",
                name="repayment_interval",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "fundraising",
                "funded",
                "repaying",
                "repaid",
                "expired",
                "defaulted",
                name="project_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.Column("source_funded_at", sa.DateTime(), nullable=True),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("funded_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("delinquent_since", sa.Date(), nullable=True),
        sa.Column("photo_url", sa.String(length=500), nullable=True),
        sa.Column("tags", sa.String(length=500), nullable=False),
        sa.Column("default_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_projects_amount_positive")),
        sa.CheckConstraint(
            "funded >= 0 AND funded <= amount", name=op.f("ck_projects_funded_in_range")
        ),
        sa.CheckConstraint("lost >= 0", name=op.f("ck_projects_lost_nonnegative")),
        sa.CheckConstraint(
            "repaid >= 0 AND repaid + lost <= funded", name=op.f("ck_projects_repaid_in_range")
        ),
        sa.CheckConstraint("term_months > 0", name=op.f("ck_projects_term_positive")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_projects_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("external_id", name=op.f("uq_projects_external_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_projects_reference")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_projects_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index("ix_projects_status_deadline", ["status", "deadline"], unique=False)

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "available",
                "committed",
                "outstanding",
                "payroll",
                "grants",
                "payouts",
                "losses",
                name="account_kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "kind NOT IN ('available', 'committed', 'outstanding') OR balance >= 0",
            name=op.f("ck_accounts_lender_money_nonnegative"),
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_accounts_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("lender_id", "kind", name="uq_accounts_lender_kind"),
    )
    op.create_table(
        "circles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("goal", sa.BigInteger(), nullable=True),
        sa.Column("weekly_summary", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("goal IS NULL OR goal > 0", name=op.f("ck_circles_goal_positive")),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lenders.id"], name=op.f("fk_circles_lead_id_lenders")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_circles_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circles")),
        sa.UniqueConstraint("workspace_id", "channel_id", name="uq_circles_workspace_channel"),
    )
    op.create_table(
        "impact_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photo_url", sa.String(length=500), nullable=True),
        sa.Column("posted_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_impact_updates_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_impact_updates")),
    )
    with op.batch_alter_table("impact_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_impact_updates_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "lender_months",
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("new_money", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("new_money >= 0", name=op.f("ck_lender_months_new_money_nonnegative")),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_lender_months_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("lender_id", "month", name=op.f("pk_lender_months")),
    )
    op.create_table(
        "payout_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("export_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payout_requests_amount_positive")),
        sa.ForeignKeyConstraint(
            ["export_id"], ["exports.id"], name=op.f("fk_payout_requests_export_id_exports")
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_payout_requests_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_requests")),
    )
    with op.batch_alter_table("payout_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payout_requests_export_id"), ["export_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payout_requests_lender_id"), ["lender_id"], unique=False
        )

    op.create_table(
        "repayments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_repayments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_repayments_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_repayments_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repayments")),
        sa.UniqueConstraint("reference", name=op.f("uq_repayments_reference")),
    )
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repayments_project_id"), ["project_id"], unique=False)

    op.create_table(
        "circle_members",
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["circle_id"], ["circles.id"], name=op.f("fk_circle_members_circle_id_circles")
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_circle_members_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("circle_id", "lender_id", name=op.f("pk_circle_members")),
    )
    with op.batch_alter_table("circle_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_circle_members_lender_id"), ["lender_id"], unique=False
        )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("lender_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("circle_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sending",
                "sent",
                "dead",
                "skipped",
                name="notification_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["circle_id"], ["circles.id"], name=op.f("fk_notifications_circle_id_circles")
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_notifications_lender_id_lenders")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_notifications_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_notifications_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_lender_id"), ["lender_id"], unique=False)
        batch_op.create_index("ix_notifications_status_due_at", ["status", "due_at"], unique=False)

    op.create_table(
        "pledges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("from_credit", sa.BigInteger(), nullable=False),
        sa.Column("from_payroll", sa.BigInteger(), nullable=False),
        sa.Column("repaid", sa.BigInteger(), nullable=False),
        sa.Column("is_relend", sa.Boolean(), nullable=False),
        sa.Column("refunded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("payroll_export_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_pledges_amount_positive")),
        sa.CheckConstraint(
            "from_credit + from_payroll = amount", name=op.f("ck_pledges_sources_sum")
        ),
        sa.CheckConstraint(
            "from_credit >= 0 AND from_payroll >= 0", name=op.f("ck_pledges_sources_nonnegative")
        ),
        sa.CheckConstraint(
            "repaid >= 0 AND repaid <= amount", name=op.f("ck_pledges_repaid_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["circle_id"], ["circles.id"], name=op.f("fk_pledges_circle_id_circles")
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_pledges_lender_id_lenders")
        ),
        sa.ForeignKeyConstraint(
            ["payroll_export_id"], ["exports.id"], name=op.f("fk_pledges_payroll_export_id_exports")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_pledges_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pledges")),
    )
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pledges_circle_id"), ["circle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pledges_lender_id"), ["lender_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pledges_payroll_export_id"), ["payroll_export_id"], unique=False
        )
        batch_op.create_index("ix_pledges_project_id_id", ["project_id", "id"], unique=False)

    op.create_table(
        "postings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_postings_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_postings_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_postings_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_postings_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_postings_transaction_id"), ["transaction_id"], unique=False
        )

    # The programme-wide accounts exist exactly once in every database.
    accounts = sa.table(
        "accounts", sa.column("kind", sa.String), sa.column("balance", sa.BigInteger)
    )
    op.bulk_insert(
        accounts, [{"kind": kind, "balance": 0} for kind in ("grants", "payouts", "losses")]
    )


def downgrade() -> None:
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postings_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_postings_account_id"))

    op.drop_table("postings")
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.drop_index("ix_pledges_project_id_id")
        batch_op.drop_index(batch_op.f("ix_pledges_payroll_export_id"))
        batch_op.drop_index(batch_op.f("ix_pledges_lender_id"))
        batch_op.drop_index(batch_op.f("ix_pledges_circle_id"))

    op.drop_table("pledges")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_status_due_at")
        batch_op.drop_index(batch_op.f("ix_notifications_lender_id"))

    op.drop_table("notifications")
    with op.batch_alter_table("circle_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circle_members_lender_id"))

    op.drop_table("circle_members")
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repayments_project_id"))

    op.drop_table("repayments")
    with op.batch_alter_table("payout_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_requests_lender_id"))
        batch_op.drop_index(batch_op.f("ix_payout_requests_export_id"))

    op.drop_table("payout_requests")
    op.drop_table("lender_months")
    with op.batch_alter_table("impact_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_impact_updates_project_id"))

    op.drop_table("impact_updates")
    op.drop_table("circles")
    op.drop_table("accounts")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("ix_projects_status_deadline")
        batch_op.drop_index(batch_op.f("ix_projects_partner_id"))

    op.drop_table("projects")
    op.drop_table("lenders")
    op.drop_table("workspaces")
    op.drop_table("processed_events")
    op.drop_table("partners")
    op.drop_table("operations")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_operation_key"))

    op.drop_table("ledger_transactions")
    op.drop_table("exports")
