from django.apps import AppConfig


class ParticipantsConfig(AppConfig):
    name = "webapp.participants"
    label = "participants"
    verbose_name = "Participants: organisations on chain (registration, key rotation)"
