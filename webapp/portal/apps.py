from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "webapp.portal"
    verbose_name = "Portal (server-rendered pages)"
