from django.urls import path

from webapp.graphql.views import hub_view

urlpatterns = [path("", hub_view, name="graphql")]
