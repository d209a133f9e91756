import logging

from alembic import context
from flask import current_app
from geoalchemy2 import alembic_helpers

from connect.migrating import prepare_session, reset_session, run_with_lock_retry

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Logging is the app's (connect.logs: JSON lines, redacted), set up by create_app: alembic's
# own logging configuration would put an unredacted handler on the root logger.
logging.getLogger("alembic").setLevel(logging.INFO)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def include_object(obj, name, obj_type, reflected, compare_to):
    """Only compare our own tables: SpatiaLite and PostGIS add many of their own."""
    if obj_type == "table" and reflected and compare_to is None:
        return False
    return alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to)


def _chain(*callbacks):
    def process(context, revision, directives):
        for callback in callbacks:
            if directives:
                callback(context, revision, directives)

    return process


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives
    # GeoAlchemy2's writer turns spatial tables and indexes into operations that create
    # them correctly on both SpatiaLite and PostGIS.
    conf_args["process_revision_directives"] = _chain(
        conf_args["process_revision_directives"], alembic_helpers.writer
    )
    conf_args.setdefault("include_object", include_object)
    conf_args.setdefault("render_item", alembic_helpers.render_item)

    connectable = get_engine()
    if connectable.dialect.name != "postgresql":
        with connectable.connect() as connection:
            context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
            with context.begin_transaction():
                context.run_migrations()
        return

    # PostgreSQL: no statement timeout, DDL waits for its lock at most
    # MIGRATION_LOCK_TIMEOUT seconds and is tried again (connect/migrating.py); one
    # transaction per migration, so an index build can leave its transaction
    # (autocommit_block) and a retry starts after the last migration that committed.
    lock_timeout = float(current_app.config["MIGRATION_LOCK_TIMEOUT"])

    def run_once():
        with connectable.connect() as connection:
            prepare_session(connection, lock_timeout)
            try:
                context.configure(
                    connection=connection,
                    target_metadata=get_metadata(),
                    transaction_per_migration=True,
                    **conf_args,
                )
                with context.begin_transaction():
                    context.run_migrations()
            finally:
                reset_session(connection)

    run_with_lock_retry(run_once, lock_timeout, int(current_app.config["MIGRATION_LOCK_ATTEMPTS"]))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
