"""Flask extensions, created here and bound to the app in the factory."""

import threading

from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

from connect.errors import ErrorSchema


class Base(DeclarativeBase):
    pass


class ConnectApi(Api):
    """flask-smorest's Api documenting connect's one error envelope, not its own, and writing
    the OpenAPI document on first use."""

    ERROR_SCHEMA = ErrorSchema

    # Documenting every operation is half the cost of building an app (~35 ms); most apps
    # (each test's, each gunicorn worker's) never serve the document, so blueprints' views
    # go into it, in registration order, when it is first read.
    @property
    def spec(self):
        with self.__dict__.setdefault("_spec_lock", threading.Lock()):
            spec, waiting = self.__dict__.get("_spec"), self.__dict__.get("_undocumented")
            while waiting:
                blueprint, name, parameters = waiting.pop(0)
                blueprint.register_views_in_doc(
                    self, self._app, spec, name=name, parameters=parameters
                )
                spec.tag({"name": name, "description": blueprint.description})
            return spec

    @spec.setter
    def spec(self, value):
        self.__dict__["_spec"] = value
        self.__dict__["_undocumented"] = []

    def register_blueprint(self, blp, *, parameters=None, **options):
        """Register the blueprint's routes now and its documentation on first use of spec."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self.__dict__["_undocumented"].append((blp, name, parameters))


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = ConnectApi()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
babel = Babel()
csrf = CSRFProtect()
compress = Compress()
