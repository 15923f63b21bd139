from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "webapp.portal"
    verbose_name = "Portal (server-rendered pages)"

    def ready(self) -> None:
        from webapp.portal import login_throttle  # noqa: F401  (connects its signal receivers)
