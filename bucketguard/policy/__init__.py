"""Offline policy harness: run a Pulumi program under the SDK's mock runtime and drive a policy pack over
the analyzer gRPC protocol in the order the Pulumi engine uses, with no CLI and no cloud."""

# How the pack tells the harness a resource was exempted: the policy's not-applicable reason starts with it.
EXEMPTION_PREFIX = "exempted: "
