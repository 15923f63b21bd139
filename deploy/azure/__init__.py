"""The reference architecture's cloud pieces on Azure, as a Pulumi program (`pulumi up` in
this directory; README.md). `stack.build_site` declares everything; the tests run it under
Pulumi's mocks (tests/deploy/test_azure_infrastructure.py). Not part of the installed
package, and never imported by the app."""
