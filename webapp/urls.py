from django.contrib import admin
from django.urls import include, path

from webapp import health
from webapp.graphql.views import graphiql_asset
from webapp.portal.login_throttle import ThrottledLoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("webapp.api.urls")),
    path("graphql", include("webapp.graphql.urls")),
    # GraphiQL's files, in development only
    path("graphql/assets/<str:name>", graphiql_asset, name="graphiql-asset"),
    path("epcis/", include("webapp.api.epcis.query_urls")),
    path("epcis/", include("webapp.api.epcis.capture_urls")),
    path("health/indexer", health.IndexerHealthView.as_view(), name="indexer-health"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", health.metrics, name="metrics"),
    path("", include("webapp.resolver.urls")),
    path("", include("webapp.passport.urls")),
    path("", include("webapp.portal.urls")),
]

handler400 = "webapp.portal.errors.bad_request"
handler404 = "webapp.portal.errors.not_found"
handler500 = "webapp.portal.errors.server_error"
