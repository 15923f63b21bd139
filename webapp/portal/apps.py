from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "webapp.portal"
    verbose_name = "Portal (server-rendered pages)"

    def ready(self) -> None:
        from django.contrib import admin

        # Importing the module connects its signal receivers that count failed sign-ins.
        from webapp.portal.login_throttle import ThrottledAdminAuthenticationForm

        admin.site.login_form = ThrottledAdminAuthenticationForm
