from django.urls import path

from webapp.graphql.views import graphiql_asset, hub_view

urlpatterns = [
    path("", hub_view, name="graphql"),
    path("/assets/<str:name>", graphiql_asset, name="graphiql-asset"),
]
