"""The built-in GS1 Digital Link resolver: a lot's GS1 key leads to its passport and the
other links GS1 defines (see `webapp.resolver.views`)."""
