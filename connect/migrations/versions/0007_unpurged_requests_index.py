"""index of the requests not yet purged (the purge's scan), built concurrently

Revision ID: 0007
Revises: 0006

"""

import sqlalchemy as sa

from connect.migrating import create_index_concurrently, drop_index_concurrently

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UNPURGED = sa.text("purged_at IS NULL")


def upgrade():
    create_index_concurrently(
        "ix_help_requests_unpurged",
        "help_requests",
        ["status"],
        postgresql_where=UNPURGED,
        sqlite_where=UNPURGED,
    )


def downgrade():
    drop_index_concurrently("ix_help_requests_unpurged", "help_requests")
