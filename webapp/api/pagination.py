from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.views import APIView


class Pagination(PageNumberPagination):
    """`?page=N&page_size=M` (at most 500 rows a page, 50 by default). A page past the last
    (or not a number) answers 404; a larger page size is cut to 500."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
