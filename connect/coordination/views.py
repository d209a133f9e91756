"""The console pages: importing each feature's views puts its routes on the console blueprint."""

from connect.coordination.console import bp  # noqa: F401
from connect.coordination.exports import views as exports_views  # noqa: F401
from connect.coordination.intake import views as intake_views  # noqa: F401
from connect.coordination.map import views as map_views  # noqa: F401
from connect.coordination.moderation import views as moderation_views  # noqa: F401
from connect.coordination.placing import views as placing_views  # noqa: F401
from connect.coordination.request_page import views as request_page_views  # noqa: F401
from connect.coordination.statistics import views as statistics_views  # noqa: F401
from connect.coordination.texts import views as texts_views  # noqa: F401
