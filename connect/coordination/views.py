"""The console pages: importing each module puts its routes on the console blueprint."""
from connect.coordination import (  # noqa: F401
    detail_views,
    exports_views,
    intake_views,
    map_views,
    moderation_views,
    stats_views,
)
from connect.coordination.console import bp  # noqa: F401
