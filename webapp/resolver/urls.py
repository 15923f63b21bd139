from django.urls import path, re_path

from webapp.resolver import views

app_name = "resolver"

# Public, no login: GS1 Digital Link URIs (a primary key first: 01 GTIN, 00 SSCC, 414 and
# 417 GLNs, which the resolver refuses plainly) and the resolver's description.
urlpatterns = [
    path(".well-known/gs1resolver", views.well_known_view, name="description"),
    re_path(r"^(?P<path>(?:01|00|414|417)/.+)$", views.resolve_view, name="resolve"),
]
