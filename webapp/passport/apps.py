from django.apps import AppConfig


class PassportConfig(AppConfig):
    name = "webapp.passport"
    label = "passport"
    verbose_name = "Passport: public product pages, proofs and evidence packs"
