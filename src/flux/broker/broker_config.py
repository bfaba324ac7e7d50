"""The instance configuration as a broker holds it: ``config.get``/``load``/
``reload``, and who may connect (``-S access.*`` or the config's
``[access]``, private mode of the job services), applied on every change."""

from __future__ import annotations

import errno

from flux.constants import FLUX_ROLE_USER
from flux.message import Message

from . import config
from .broker_fields import BrokerFields
from .router import RequestError

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ConfigAccess"]

_TRUE = ("1", "true", "yes", "on")


class ConfigAccess(BrokerFields):
    """The ``Broker``'s part that holds the configuration and access settings."""

    def _register_config(self) -> None:
        cfg = self.router.builtin("config")
        cfg.method("get", self._config_get, FLUX_ROLE_USER)
        cfg.method("load", self._config_load)
        cfg.method("reload", self._config_reload)

    def _apply_access(self) -> None:
        """Who may connect: ``-S access.*`` attributes, else the config's ``[access]``."""
        access = self.conf.get("access", {})
        for key, attr in (("allow-guest-user", "allow_guest"), ("allow-root-owner", "allow_root_owner")):
            value = self.setattrs.get(f"access.{key}")
            on = value.lower() in _TRUE if value is not None else bool(access.get(key, False))
            setattr(self.connector, attr, on)
        private = bool(access.get("private-mode", False))  # job data: guests see their own
        for name in ("job_manager", "job_list"):
            svc = getattr(self, name, None)
            if svc is not None:
                svc.private_mode = private

    def _set_conf(self, conf: Any) -> None:
        try:
            self.conf = config.check(conf)
        except config.ConfigError as exc:
            raise RequestError(errno.EINVAL, str(exc)) from None
        self._apply_access()
        self.modules.config_changed(self.conf)

    def _config_get(self, msg: Message) -> None:
        self.router.respond(msg, self.conf)

    def _config_load(self, msg: Message) -> None:
        self._set_conf(msg.payload_json())
        self.router.respond(msg)

    def _config_reload(self, msg: Message) -> None:
        if not self.config_path:
            self._set_conf({})
        else:
            try:
                conf = config.load(self.config_path)
            except config.ConfigError as exc:
                raise RequestError(errno.EINVAL, str(exc)) from None
            self._set_conf(conf)
        self.router.respond(msg)
