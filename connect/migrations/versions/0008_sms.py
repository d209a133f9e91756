"""sms: texts sent and received, questions asked, opt-outs, codes, proven phones, short links;
a request's language, its SMS choice and how exactly it is placed

Revision ID: 0008
Revises: 0007

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "phone_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=False),
        sa.Column("tries", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("phone_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_phone_codes_phone_purpose", ["phone", "purpose", "created_at"], unique=False
        )

    op.create_table(
        "proven_phones",
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("proven_at", sa.DateTime(), nullable=False),
        sa.Column("how", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("phone"),
    )
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone"),
    )
    op.create_table(
        "sms_links",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["help_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    with op.batch_alter_table("sms_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sms_links_request_id"), ["request_id"], unique=False)

    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("segments", sa.SmallInteger(), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("fallback", sa.JSON(), nullable=True),
        sa.Column("gateway", sa.String(length=16), nullable=True),
        sa.Column("gateway_ref", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["help_requests.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sms_messages_gateway_ref"), ["gateway_ref"], unique=False
        )
        batch_op.create_index("ix_sms_messages_phone_sent", ["phone", "sent_at"], unique=False)
        batch_op.create_index("ix_sms_messages_sent", ["sent_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sms_messages_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(
            "ix_sms_messages_status_created", ["status", "created_at"], unique=False
        )

    op.create_table(
        "sms_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["help_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sms_questions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sms_questions_phone_open", ["phone", "answered_at", "asked_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sms_questions_request_id"), ["request_id"], unique=False
        )

    # Plain ADD COLUMNs (constant defaults): no table rebuild on SQLite, no rewrite on PostgreSQL.
    op.add_column("help_requests", sa.Column("locale", sa.String(length=8), nullable=True))
    op.add_column(
        "help_requests",
        sa.Column("sms_updates", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "help_requests",
        sa.Column(
            "location_precision", sa.String(length=8), server_default="exact", nullable=False
        ),
    )
    op.add_column(
        "volunteers",
        sa.Column("sms_alerts", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade():
    # SQLite 3.35+ drops a column in place.
    op.drop_column("volunteers", "sms_alerts")
    for column in ("location_precision", "sms_updates", "locale"):
        op.drop_column("help_requests", column)

    with op.batch_alter_table("sms_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_questions_request_id"))
        batch_op.drop_index("ix_sms_questions_phone_open")

    op.drop_table("sms_questions")
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_messages_status_created")
        batch_op.drop_index(batch_op.f("ix_sms_messages_request_id"))
        batch_op.drop_index("ix_sms_messages_sent")
        batch_op.drop_index("ix_sms_messages_phone_sent")
        batch_op.drop_index(batch_op.f("ix_sms_messages_gateway_ref"))

    op.drop_table("sms_messages")
    with op.batch_alter_table("sms_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_links_request_id"))

    op.drop_table("sms_links")
    op.drop_table("sms_opt_outs")
    op.drop_table("proven_phones")
    with op.batch_alter_table("phone_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_phone_codes_phone_purpose")

    op.drop_table("phone_codes")
