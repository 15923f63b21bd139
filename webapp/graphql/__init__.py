"""The GraphQL hub: one query API over the selectors, with the REST API's tiers."""
