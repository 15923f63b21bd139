from django.contrib import admin
from django.urls import path

from webapp.chain import views as chain_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/indexer", chain_views.IndexerHealthView.as_view(), name="indexer-health"),
    path("metrics", chain_views.metrics, name="metrics"),
]
